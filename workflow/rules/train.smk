# Per-run settings, LoRA fine-tuning through accelerate, and embedding.


localrules:
    run_config,


rule run_config:
    output:
        f"{R}/runs/{{run}}/run.json",
    log:
        f"{LOGS}/runs/{{run}}/run_config.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        run=lambda wc: run_config(config, *parse_run(wc.run)),
    script:
        "../scripts/write_run_config.py"


rule finetune:
    input:
        unpack(model_input),
        **DATASET,
        run=f"{R}/runs/{{prompt}}/{{target}}/seed{{seed}}/run.json",
        pixels=f"{R}/cache/pixels.npy",
        tokens=f"{R}/cache/tokens/{{prompt}}.npz",
    output:
        adapter=directory(f"{R}/runs/{{prompt}}/{{target}}/seed{{seed}}/adapter"),
        log=f"{R}/runs/{{prompt}}/{{target}}/seed{{seed}}/train_log.json",
    log:
        f"{LOGS}/runs/{{prompt}}/{{target}}/seed{{seed}}/finetune.log",
    benchmark:
        f"{LOGS}/benchmarks/finetune/{{prompt}}_{{target}}_seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["compute"]["finetune"]["threads"]
    resources:
        gpu=config["compute"]["finetune"]["gpu"],
        mem_mb=config["compute"]["finetune"]["mem_mb"],
        runtime=config["compute"]["finetune"]["runtime"],
        cpus_per_task=config["compute"]["finetune"]["cpus_per_task"],
    params:
        dataset=dataset_dir,
        checkpoint=lambda wc, output: str(Path(output.log).parent / "checkpoint"),
        accelerate=ACCELERATE_DIR,
        mixed_precision=config["train"]["mixed_precision"],
        code=CODE["train"],
    shell:
        "OMP_NUM_THREADS={threads} python -m morphalign.launch --accelerate-dir {params.accelerate}"
        " --mixed-precision {params.mixed_precision} --"
        " --run-config {input.run} --dataset {params.dataset} --pixels {input.pixels}"
        " --tokens {input.tokens} --adapter-out {output.adapter} --log-out {output.log}"
        " --checkpoint-dir {params.checkpoint} > {log} 2>&1"


rule embed:
    input:
        unpack(model_input),
        unpack(adapter_input),
        **DATASET,
        run=f"{R}/runs/{{run}}/run.json",
        pixels=f"{R}/cache/pixels.npy",
        tokens=lambda wc: f"{R}/cache/tokens/{parse_run(wc.run)[0]}.npz",
    output:
        f"{R}/runs/{{run}}/embeddings.npz",
    log:
        f"{LOGS}/runs/{{run}}/embed.log",
    benchmark:
        f"{LOGS}/benchmarks/embed/{{run}}.tsv"
    group:
        "post"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=config["compute"]["embed"]["mem_mb"],
        runtime=config["compute"]["embed"]["runtime"],
        cpus_per_task=config["compute"]["embed"]["cpus_per_task"],
    params:
        dataset=dataset_dir,
        adapter=lambda wc, input: (
            f"--adapter {input.adapter}" if "adapter" in input.keys() else ""
        ),
        code=CODE["embed"],
    shell:
        "OMP_NUM_THREADS={threads} python -m morphalign.embed --run-config {input.run}"
        " --dataset {params.dataset} --pixels {input.pixels} --tokens {input.tokens}"
        " {params.adapter} --out {output} > {log} 2>&1"
