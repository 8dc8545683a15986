# The embedded tiny SigLIP, built offline when model.name_or_path is `tiny`.


rule tiny_model:
    output:
        directory(f"{RES}/models/tiny-siglip"),
    log:
        f"{LOGS}/tiny_model.log",
    conda:
        "../../envs/train.yaml"
    params:
        spec=config["model"]["tiny"],
        code=CODE["tiny_model"],
    script:
        "../scripts/build_tiny_model.py"
