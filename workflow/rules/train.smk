# LoRA fine-tuning through accelerate (morphalign.train). A run's settings reach its jobs inline (`run_json`), and
# the fine-tune writes them beside its adapter as run.json.


rule finetune:
    input:
        unpack(finetune_inputs),
        **MODEL_INPUT,
        **DATASET,
        pixels=f"{R}/cache/pixels.npy",
    output:
        adapter=directory(f"{R}/runs/{{run}}/adapter"),
        log=f"{R}/runs/{{run}}/train_log.json",
        run=f"{R}/runs/{{run}}/run.json",
    log:
        f"{LOGS}/runs/{{run}}/finetune.log",
    benchmark:
        f"{LOGS}/benchmarks/finetune/{{run}}.tsv"
    wildcard_constraints:
        run=TRAINED_RUN_PATTERN,
    # the longest jobs first: the short embed and evaluate jobs then fill the cores to the end, where a fine-tune
    # started last would run alone (about 30 s of one idle core on the 2-core default)
    priority: 10
    conda:
        TRAIN_ENV
    threads: config["compute"]["finetune"]["threads"]
    resources:
        gpu=config["compute"]["finetune"]["gpu"],
        mem_mb=config["compute"]["finetune"]["mem_mb"],
        runtime=config["compute"]["finetune"]["runtime"],
        cpus_per_task=config["compute"]["finetune"]["cpus_per_task"],
    params:
        run=run_json,
        args=finetune_args,
        accelerate=ACCELERATE_CONFIGS,
        mixed_precision=config["train"]["mixed_precision"],
        gpu_guard=GPU_GUARD,
        code=CODE["finetune"],
    shell:
        "OMP_NUM_THREADS={threads} python -m morphalign.train.launch --mixed-precision {params.mixed_precision} --gpus-requested {resources.gpu} {params.gpu_guard} --"
        " --run-json {params.run:q} --run-out {output.run} {params.args} --pixels {input.pixels}"
        " --tokens {input.tokens} --adapter-out {output.adapter} --log-out {output.log}"
        " > {log} 2>&1"
