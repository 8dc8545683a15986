# Caches: images resized once to the model's resolution, captions tokenised once per prompt.


rule pixel_cache:
    input:
        **MODEL_INPUT,
        **DATASET,
    output:
        f"{R}/cache/pixels.npy",
    log:
        f"{LOGS}/cache/pixels.log",
    benchmark:
        f"{LOGS}/benchmarks/pixel_cache.tsv"
    conda:
        TRAIN_ENV
    params:
        dataset=dataset_dir,
        model=MODEL_ID,
        model_path=location(MODEL),
        cache_dir=location(config["model"]["cache_dir"]),
        code=CODE["pixel_cache"],
    script:
        "../scripts/pixel_cache.py"


rule token_cache:
    input:
        **MODEL_INPUT,
        **DATASET,
        captions=f"{R}/captions/{{prompt}}.csv",
    output:
        tokens=f"{R}/cache/tokens/{{prompt}}.npz",
        stats=f"{R}/captions/{{prompt}}.stats.json",
    log:
        f"{LOGS}/cache/tokens_{{prompt}}.log",
    conda:
        TRAIN_ENV
    params:
        dataset=dataset_dir,
        model=MODEL_ID,
        model_path=location(MODEL),
        cache_dir=location(config["model"]["cache_dir"]),
        max_length=config["preprocess"]["max_length"],
        lowercase=config["preprocess"]["lowercase"],
        code=CODE["token_cache"],
    script:
        "../scripts/token_cache.py"
