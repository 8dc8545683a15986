# The dataset stage: images.npy + manifest.csv in the dataset format of morphalign.artifacts.


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
        dataset=dataset_settings(config),
        download_dir=location(f"{RES}/downloads"),
        data_mirror=location(config["data_mirror"]),
        code=CODE["dataset"],
    script:
        "../scripts/make_dataset.py"
