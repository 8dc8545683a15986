# Per-run settings, LoRA fine-tuning through accelerate, and embedding.


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
    threads: 1
    params:
        dataset=dataset_dir,
        code=CODE["train"],
    shell:
        "OMP_NUM_THREADS={threads} accelerate launch --num_processes 1 --num_machines 1"
        " --mixed_precision no --dynamo_backend no -m morphalign.train"
        " --run-config {input.run} --dataset {params.dataset} --pixels {input.pixels}"
        " --tokens {input.tokens} --adapter-out {output.adapter} --log-out {output.log}"
        " > {log} 2>&1"


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
    conda:
        "../../envs/train.yaml"
    threads: 1
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
