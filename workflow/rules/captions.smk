# Captions: one table per prompt, written by the prompt's backend.


rule captions:
    input:
        unpack(overrides_input),
        **DATASET,
    output:
        f"{R}/captions/{{prompt}}.csv",
    log:
        f"{LOGS}/captions/{{prompt}}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        prompt=lambda wc: config["prompts"][wc.prompt],
        dataset=dataset_dir,
        download_dir=f"{RES}/downloads",
        data_mirror=config["data_mirror"],
        captioning=lambda wc: captioning_settings(wc.prompt),
        cache_dir=f"{RES}/captions",
        report_dir=f"{R}/captions/reports",
        code=CODE["captions"],
    script:
        "../scripts/caption.py"
