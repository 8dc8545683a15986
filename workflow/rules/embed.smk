# Embeddings of one run: the base model plus the run's adapter (morphalign.embed).


rule embed:
    input:
        unpack(model_input),
        unpack(adapter_input),
        **DATASET,
        run=f"{R}/runs/{{run}}/run.json",
        pixels=f"{R}/cache/pixels.npy",
        tokens=tokens_input,
        class_prompts=f"{R}/cache/class_prompts.json",
    output:
        f"{R}/runs/{{run}}/embeddings.npz",
    log:
        f"{LOGS}/runs/{{run}}/embed.log",
    benchmark:
        f"{LOGS}/benchmarks/embed/{{run}}.tsv"
    group:
        "post"
    conda:
        TRAIN_ENV
    threads: 1
    resources:
        gpu=config["compute"]["embed"]["gpu"],
        mem_mb=config["compute"]["embed"]["mem_mb"],
        runtime=config["compute"]["embed"]["runtime"],
        cpus_per_task=config["compute"]["embed"]["cpus_per_task"],
    params:
        dataset=dataset_dir,
        model=model_args,
        adapter=lambda wc, input: (
            f"--adapter {input.adapter}" if "adapter" in input.keys() else ""
        ),
        gpu_guard=GPU_GUARD,
        code=CODE["embed"],
    shell:
        "OMP_NUM_THREADS={threads} python -m morphalign.embed --run-config {input.run}"
        " {params.model} --dataset {params.dataset} --pixels {input.pixels} --tokens {input.tokens}"
        " {params.adapter} --class-prompts {input.class_prompts} --out {output}"
        " --gpus-requested {resources.gpu} {params.gpu_guard} > {log} 2>&1"


rule class_prompts:
    output:
        f"{R}/cache/class_prompts.json",
    log:
        f"{LOGS}/class_prompts.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        zero_shot=config["zero_shot"],
        code=CODE["class_prompts"],
    script:
        "../scripts/class_prompts.py"
