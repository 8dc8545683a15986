# The dataset stage: images.npy + manifest.csv in the shared dataset format.


rule dataset:
    output:
        **DATASET,
    log:
        f"{LOGS}/dataset.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        source=config["dataset"]["source"],
        synthetic=config["dataset"]["synthetic"],
        val_size=config["dataset"]["val_size"],
        val_seed=config["dataset"]["val_seed"],
        code=CODE["data"],
    script:
        "../scripts/make_dataset.py"
