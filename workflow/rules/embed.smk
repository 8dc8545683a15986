# Embeddings of one run: the base model plus the run's adapter (morphalign.embed); the towers a run leaves frozen
# are embedded once per sweep (morphalign.embed.frozen) and read from there.


rule embed:
    input:
        unpack(embed_inputs),
        **MODEL_INPUT,
        **DATASET,
        pixels=f"{R}/cache/pixels.npy",
        class_prompts=f"{R}/cache/class_prompts.json",
    output:
        f"{R}/runs/{{run}}/embeddings.npz",
    log:
        f"{LOGS}/runs/{{run}}/embed.log",
    benchmark:
        f"{LOGS}/benchmarks/embed/{{run}}.tsv"
    conda:
        TRAIN_ENV
    threads: 1
    resources:
        gpu=config["compute"]["embed"]["gpu"],
        mem_mb=config["compute"]["embed"]["mem_mb"],
        runtime=config["compute"]["embed"]["runtime"],
        cpus_per_task=config["compute"]["embed"]["cpus_per_task"],
    params:
        run=run_json,
        args=embed_args,
        gpu_guard=GPU_GUARD,
        code=CODE["embed"],
    shell:
        "OMP_NUM_THREADS={threads} python -m morphalign.embed --run-json {params.run:q}"
        " --pixels {input.pixels} --tokens {input.tokens}"
        " {params.args} --class-prompts {input.class_prompts} --out {output}"
        " --gpus-requested {resources.gpu} {params.gpu_guard} > {log} 2>&1"


# writes the zero-shot class prompts from the config: on a cluster, no need to queue for it
localrules:
    class_prompts,


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


rule frozen_image:
    input:
        **MODEL_INPUT,
        **DATASET,
        pixels=f"{R}/cache/pixels.npy",
    output:
        FROZEN["image"],
    log:
        f"{LOGS}/cache/frozen_image.log",
    benchmark:
        f"{LOGS}/benchmarks/frozen_image.tsv"
    conda:
        TRAIN_ENV
    threads: config["compute"]["finetune"]["threads"]
    resources:
        gpu=config["compute"]["embed"]["gpu"],
        mem_mb=config["compute"]["embed"]["mem_mb"],
        runtime=config["compute"]["embed"]["runtime"],
        cpus_per_task=config["compute"]["embed"]["cpus_per_task"],
    params:
        dataset=dataset_dir,
        model=model_args,
        pixel_norm=config["preprocess"]["pixel_norm"],
        gpu_guard=GPU_GUARD,
        code=CODE["frozen"],
    shell:
        "OMP_NUM_THREADS={threads} python -m morphalign.embed.frozen image {params.model}"
        " --dataset {params.dataset} --pixels {input.pixels} --pixel-norm {params.pixel_norm}"
        " --out {output} --gpus-requested {resources.gpu} {params.gpu_guard} > {log} 2>&1"


rule frozen_text:
    input:
        **MODEL_INPUT,
        **DATASET,
        tokens=f"{R}/cache/tokens/{{prompt}}.npz",
    output:
        FROZEN["text"],
    log:
        f"{LOGS}/cache/frozen_text_{{prompt}}.log",
    benchmark:
        f"{LOGS}/benchmarks/frozen_text/{{prompt}}.tsv"
    conda:
        TRAIN_ENV
    threads: config["compute"]["finetune"]["threads"]
    resources:
        gpu=config["compute"]["embed"]["gpu"],
        mem_mb=config["compute"]["embed"]["mem_mb"],
        runtime=config["compute"]["embed"]["runtime"],
        cpus_per_task=config["compute"]["embed"]["cpus_per_task"],
    params:
        dataset=dataset_dir,
        model=model_args,
        gpu_guard=GPU_GUARD,
        code=CODE["frozen"],
    shell:
        "OMP_NUM_THREADS={threads} python -m morphalign.embed.frozen text {params.model}"
        " --dataset {params.dataset} --tokens {input.tokens}"
        " --out {output} --gpus-requested {resources.gpu} {params.gpu_guard} > {log} 2>&1"


rule frozen_class_text:
    input:
        **MODEL_INPUT,
        class_prompts=f"{R}/cache/class_prompts.json",
    output:
        FROZEN["class_text"],
    log:
        f"{LOGS}/cache/frozen_class_text.log",
    benchmark:
        f"{LOGS}/benchmarks/frozen_class_text.tsv"
    conda:
        TRAIN_ENV
    threads: 1
    resources:
        gpu=config["compute"]["embed"]["gpu"],
        mem_mb=config["compute"]["embed"]["mem_mb"],
        runtime=config["compute"]["embed"]["runtime"],
        cpus_per_task=config["compute"]["embed"]["cpus_per_task"],
    params:
        model=model_args,
        max_length=config["preprocess"]["max_length"],
        lowercase="--lowercase" if config["preprocess"]["lowercase"] else "",
        gpu_guard=GPU_GUARD,
        code=CODE["frozen"],
    shell:
        "OMP_NUM_THREADS={threads} python -m morphalign.embed.frozen class-text {params.model}"
        " --class-prompts {input.class_prompts} --max-length {params.max_length} {params.lowercase}"
        " --out {output} --gpus-requested {resources.gpu} {params.gpu_guard} > {log} 2>&1"
