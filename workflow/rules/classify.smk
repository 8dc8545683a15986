# Gemini as a classifier: the class of each test image, asked directly (zero-shot or k-shot).


rule classify:
    input:
        **DATASET,
    output:
        metrics=f"{R}/classify/{{name}}/metrics.json",
        predictions=f"{R}/classify/{{name}}/predictions.csv",
    log:
        f"{LOGS}/classify/{{name}}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dataset=dataset_dir,
        classify=lambda wc: classify_settings(wc.name),
        captioning={k: v for k, v in config["captioning"].items() if k != "overrides"},
        cache_dir=location(f"{RES}/classify"),
        code=CODE["classify"],
    script:
        "../scripts/classify.py"
