# The sweep's table and figures.


rule aggregate:
    input:
        metrics=[f"{R}/runs/{run.id}/metrics.json" for run in RUNS],
        predictions=[f"{R}/runs/{run.id}/predictions.csv" for run in RUNS],
    output:
        runs=f"{R}/tables/runs.csv",
        csv=f"{R}/tables/table1.csv",
        md=f"{R}/tables/table1.md",
        tex=f"{R}/tables/table1.tex",
    log:
        f"{LOGS}/report/aggregate.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 2  # the last heavy job of a sweep: its resampling uses both cores of the default
    params:
        main=config["report"]["main_prompt"],
        ref=config["report"]["reference_prompt"],
        uncertainty=config["report"]["uncertainty"],
        f1_average=config["evaluate"]["f1_average"],
        positive_class=config["evaluate"]["positive_class"],
        controls=CONTROLS,
        code=CODE["aggregate"],
    script:
        "../scripts/aggregate.py"


rule figures:
    input:
        embeddings=[
            f"{R}/runs/{run.id}/embeddings.npz"
            for run in representative_runs().values()
        ],
        logs=[f"{R}/runs/{run.id}/train_log.json" for run in TRAINED_RUNS],
    output:
        cosine=f"{R}/figures/cosine_distributions.png",
        alignment=f"{R}/figures/caption_alignment.png",
        tsne=f"{R}/figures/tsne_grid.png",
        curves=f"{R}/figures/training_curves.png",
    log:
        f"{LOGS}/report/figures.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        pairs=[list(k) for k in representative_runs()],
        main=config["report"]["main_prompt"],
        ref=config["report"]["reference_prompt"],
        perplexity=config["report"]["tsne_perplexity"],
        seed=config["report"]["tsne_seed"],
        run_seed=config["report"]["figure_seed"],
        link_pairs=config["report"]["tsne_link_pairs"],
        code=CODE["figures"],
    script:
        "../scripts/figures.py"


rule caption_stats:
    input:
        captions=expand(f"{R}/captions/{{prompt}}.csv", prompt=PROMPTS),
        stats=expand(f"{R}/captions/{{prompt}}.stats.json", prompt=PROMPTS),
    output:
        table=f"{R}/tables/caption_stats.csv",
        figure=f"{R}/figures/caption_stats.png",
    log:
        f"{LOGS}/report/caption_stats.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        prompts=PROMPTS,
        code=CODE["caption_stats"],
    script:
        "../scripts/caption_stats.py"


rule caption_audit_table:
    input:
        expand(f"{R}/captions/reports/{{prompt}}.audit_captions.json", prompt=PROMPTS),
    output:
        f"{R}/tables/caption_audit.csv",
    log:
        f"{LOGS}/report/caption_audit_table.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=CODE["caption_audit_table"],
    script:
        "../scripts/caption_audit_table.py"


rule calibration:
    input:
        **DATASET,
        captions=expand(f"{R}/captions/{{prompt}}.csv", prompt=PROMPTS),
    output:
        f"{R}/tables/calibration.csv",
    log:
        f"{LOGS}/report/calibration.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dataset=dataset_dir,
        prompts=PROMPTS,
        code=CODE["calibration"],
    script:
        "../scripts/calibration.py"


rule pretrain_report:
    input:
        model=MODEL,
    output:
        json=f"{R}/pretrain/report.json",
        figure=f"{R}/figures/pretraining.png",
    log:
        f"{LOGS}/report/pretrain_report.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=CODE["pretrain_report"],
    script:
        "../scripts/pretrain_report.py"


rule classify_table:
    input:
        metrics=expand(f"{R}/classify/{{name}}/metrics.json", name=CLASSIFY),
        predictions=expand(f"{R}/classify/{{name}}/predictions.csv", name=CLASSIFY),
        runs=f"{R}/tables/runs.csv",
    output:
        csv=f"{R}/tables/classify.csv",
        md=f"{R}/tables/classify.md",
    log:
        f"{LOGS}/report/classify_table.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        main=config["report"]["main_prompt"],
        uncertainty=config["report"]["uncertainty"],
        code=CODE["classify_table"],
    script:
        "../scripts/classify_table.py"


rule geometry:
    input:
        runs=f"{R}/tables/runs.csv",
    output:
        csv=f"{R}/tables/geometry.csv",
        md=f"{R}/tables/geometry.md",
        figure=f"{R}/figures/geometry.png",
    log:
        f"{LOGS}/report/geometry.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=CODE["geometry"],
    script:
        "../scripts/geometry.py"


rule figure1:
    input:
        frozen=[f"{R}/runs/{run.id}/embeddings.npz" for run in ANCHORING["figure1"][0]],
        trained=[f"{R}/runs/{run.id}/embeddings.npz" for run in ANCHORING["figure1"][1]],
    output:
        figure=f"{R}/figures/figure1_anchoring.png",
        table=f"{R}/tables/figure1_anchoring.csv",
    log:
        f"{LOGS}/report/figure1.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        frozen_prompts=[run.prompt for run in ANCHORING["figure1"][0]],
        trained_keys=[[run.prompt, run.target] for run in ANCHORING["figure1"][1]],
        main=config["report"]["main_prompt"],
        ref=config["report"]["reference_prompt"],
        controls=[],
        code=CODE["figure1"],
    script:
        "../scripts/figure1.py"


rule figure1_controls:
    input:
        frozen=[
            f"{R}/runs/{run.id}/embeddings.npz"
            for run in ANCHORING["figure1_controls"][0]
        ],
        trained=[
            f"{R}/runs/{run.id}/embeddings.npz"
            for run in ANCHORING["figure1_controls"][1]
        ],
    output:
        figure=f"{R}/figures/figure1_controls.png",
        table=f"{R}/tables/figure1_controls.csv",
    log:
        f"{LOGS}/report/figure1_controls.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        frozen_prompts=[run.prompt for run in ANCHORING["figure1_controls"][0]],
        trained_keys=[
            [run.prompt, run.target] for run in ANCHORING["figure1_controls"][1]
        ],
        main=config["report"]["main_prompt"],
        ref=config["report"]["reference_prompt"],
        controls=CONTROLS,
        code=CODE["figure1"],
    script:
        "../scripts/figure1.py"
