# Captions: one table per prompt, written by the prompt's backend.


rule captions:
    input:
        unpack(overrides_input),
        unpack(shuffle_source_input),
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
        download_dir=location(f"{RES}/downloads"),
        data_mirror=location(config["data_mirror"]),
        captioning=lambda wc: captioning_settings(wc.prompt),
        cache_dir=location(f"{RES}/captions"),
        report_dir=location(f"{R}/captions/reports"),
        code=captions_code,
    script:
        "../scripts/caption.py"


rule caption_audit:
    input:
        **DATASET,
        captions=f"{R}/captions/{{prompt}}.csv",
    output:
        f"{R}/captions/reports/{{prompt}}.audit_captions.json",
    log:
        f"{LOGS}/captions/{{prompt}}.audit.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dataset=dataset_dir,
        settings=config["caption_audit"],
        captioning=lambda wc: judge_settings(),
        cache_dir=location(f"{RES}/captions"),
        report_dir=location(f"{R}/captions/reports"),
        code=CODE["caption_audit"],
    script:
        "../scripts/caption_audit.py"
