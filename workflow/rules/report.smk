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
        cosine=report(
            f"{R}/figures/cosine_distributions.png",
            caption="../report/cosine_distributions.rst",
            category="Alignment",
            labels={"result": "Cosine distributions"},
        ),
        alignment=report(
            f"{R}/figures/caption_alignment.png",
            caption="../report/caption_alignment.rst",
            category="Alignment",
            labels={"result": "Caption alignment"},
        ),
        tsne=report(
            f"{R}/figures/tsne_grid.png",
            caption="../report/tsne_grid.rst",
            category="Geometry",
            labels={"result": "t-SNE grid"},
        ),
        curves=report(
            f"{R}/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Training",
            labels={"result": "Training curves"},
        ),
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


# Small tables and figures from the captions and the pretraining report: seconds on one core, so on a cluster they
# run on the submitting node rather than wait in the queue.


localrules:
    caption_stats,
    caption_audit_table,
    pretrain_report,


rule caption_stats:
    input:
        captions=expand(f"{R}/captions/{{prompt}}.csv", prompt=PROMPTS),
        stats=expand(f"{R}/captions/{{prompt}}.stats.json", prompt=PROMPTS),
    output:
        table=f"{R}/tables/caption_stats.csv",
        figure=report(
            f"{R}/figures/caption_stats.png",
            caption="../report/caption_stats.rst",
            category="Data and captions",
            labels={"result": "Caption statistics"},
        ),
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
        figure=report(
            f"{R}/figures/pretraining.png",
            caption="../report/pretraining.rst",
            category="Training",
            labels={"result": "Embedded model pretraining"},
        ),
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
        figure=report(
            f"{R}/figures/geometry.png",
            caption="../report/geometry.rst",
            category="Geometry",
            labels={"result": "Embedding geometry"},
        ),
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
        figure=report(
            f"{R}/figures/figure1_anchoring.png",
            caption="../report/figure1_anchoring.rst",
            category="Alignment",
            labels={"result": "Figure 1: anchoring"},
        ),
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
        figure=report(
            f"{R}/figures/figure1_controls.png",
            caption="../report/figure1_controls.rst",
            category="Controls",
            labels={"result": "Figure 1: controls"},
        ),
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


# The HTML report's own pages (`snakemake --report results/report.html` gathers every output marked `report`).
# Each takes seconds on one core: on a cluster they run on the submitting node rather than wait in the queue.


localrules:
    table_page,
    caption_gallery,
    retrieval_examples,
    paper_comparison,
    provenance_page,


rule table_page:
    input:
        lambda wc: TABLE_PAGES[wc.table][0],
    output:
        report(
            f"{R}/report/tables/{{table}}.html",
            caption="../report/tables.rst",
            category=lambda wc: TABLE_PAGES[wc.table][2],
            labels=lambda wc: {"result": TABLE_PAGES[wc.table][1]},
        ),
    log:
        f"{LOGS}/report/table_page/{{table}}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        title=lambda wc: TABLE_PAGES[wc.table][1],
        code=CODE["table_page"],
    script:
        "../scripts/table_page.py"


rule caption_gallery:
    input:
        **DATASET,
        captions=expand(f"{R}/captions/{{prompt}}.csv", prompt=SHOWN_PROMPTS),
    output:
        report(
            f"{R}/report/caption_gallery.html",
            caption="../report/caption_gallery.rst",
            category="Data and captions",
            labels={"result": "Caption gallery"},
        ),
    log:
        f"{LOGS}/report/caption_gallery.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dataset=dataset_dir,
        prompts=SHOWN_PROMPTS,
        texts={p: config["prompts"][p]["text"] for p in SHOWN_PROMPTS},
        per_class=config["report"]["gallery"]["per_class"],
        seed=config["report"]["gallery"]["seed"],
        code=CODE["caption_gallery"],
    script:
        "../scripts/caption_gallery.py"


rule retrieval_examples:
    input:
        unpack(retrieval_inputs),
        **DATASET,
    output:
        report(
            f"{R}/report/retrieval/{{prompt}}/{{target}}.html",
            caption="../report/retrieval_examples.rst",
            category="Alignment",
            subcategory="Retrieval examples",
            labels=lambda wc: {
                "prompt": wc.prompt,
                "target": wc.target,
                "seed": str(
                    RETRIEVAL[wc.prompt, wc.target][0].seed
                ),  # 0 would show blank
            },
        ),
    log:
        f"{LOGS}/report/retrieval/{{prompt}}/{{target}}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dataset=dataset_dir,
        title=lambda wc: f"Retrieval examples: {wc.prompt}, {wc.target} LoRA, seed "
        f"{RETRIEVAL[wc.prompt, wc.target][0].seed}",
        per_class=config["report"]["retrieval_examples"]["per_class"],
        seed=config["report"]["retrieval_examples"]["seed"],
        k=config["report"]["retrieval_examples"]["k"],
        code=CODE["retrieval_examples"],
    script:
        "../scripts/retrieval_examples.py"


rule paper_comparison:
    input:
        table1=f"{R}/tables/table1.csv",
    output:
        report(
            f"{R}/report/paper.html",
            caption="../report/paper.rst",
            category="Table 1",
            labels={"result": "Beside the paper"},
        ),
    log:
        f"{LOGS}/report/paper_comparison.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        setting=paper_setting(),
        paper=PAPER_TABLE_DIGEST,  # the script reads the package's table; this digest reruns it on an edit
        code=CODE["paper_comparison"],
    script:
        "../scripts/paper_comparison.py"


rule provenance_page:
    input:
        runs=f"{R}/tables/runs.csv",  # and the metrics files it lists
        audits=expand(
            f"{R}/captions/reports/{{prompt}}.audit_captions.json", prompt=PROMPTS
        ),
        classify=expand(f"{R}/classify/{{name}}/metrics.json", name=CLASSIFY),
    output:
        report(
            f"{R}/report/provenance.html",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"result": "Provenance"},
        ),
    log:
        f"{LOGS}/report/provenance_page.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        report_dirs=[f"{R}/captions/reports", f"{R}/classify"],
        config=provenance_config(),
        code=CODE["provenance_page"],
    script:
        "../scripts/provenance_page.py"
