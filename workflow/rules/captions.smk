# Captions: one table per prompt, written by the prompt's backend.


rule captions:
    input:
        **DATASET,
    output:
        f"{R}/captions/{{prompt}}.csv",
    log:
        f"{LOGS}/captions/{{prompt}}.log",
    params:
        prompt=lambda wc: config["prompts"][wc.prompt],
        dataset=f"{R}/data",
        code=CODE["captions"],
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/caption.py"
