# The dataset stage: images.npy + manifest.csv in the shared dataset format.


rule dataset:
    input:
        unpack(dataset_input),
    output:
        **DATASET,
    log:
        f"{LOGS}/dataset.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dataset=config["dataset"],
        download_dir=f"{RES}/downloads",
        data_mirror=config["data_mirror"],
        code=CODE["data"],
    script:
        "../scripts/make_dataset.py"
