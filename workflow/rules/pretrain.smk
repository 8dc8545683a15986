# The embedded tiny SigLIP (model.name_or_path: tiny): built and pretrained offline on generic radio-sky scenes.


rule pretrain:
    output:
        directory(MODEL),
    log:
        f"{LOGS}/pretrain.log",
    benchmark:
        f"{LOGS}/benchmarks/pretrain.tsv"
    conda:
        TRAIN_ENV
    threads: config["compute"]["pretrain"]["threads"]
    resources:
        mem_mb=config["compute"]["pretrain"]["mem_mb"],
        runtime=config["compute"]["pretrain"]["runtime"],
    params:
        spec=config["model"]["tiny"],
        settings=config["pretrain"],
        code=CODE["pretrain"],
    script:
        "../scripts/pretrain.py"
