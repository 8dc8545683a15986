# Metrics of one run: probes, alignment, retrieval, plus provenance.


rule evaluate:
    input:
        unpack(train_log_input),
        embeddings=f"{R}/runs/{{run}}/embeddings.npz",
    output:
        metrics=f"{R}/runs/{{run}}/metrics.json",
        predictions=f"{R}/runs/{{run}}/predictions.csv",
    log:
        f"{LOGS}/runs/{{run}}/evaluate.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=config["compute"]["evaluate"]["mem_mb"],
        runtime=config["compute"]["evaluate"]["runtime"],
    params:
        run=run_json,
        train_log=train_log_args,
        settings=evaluate_args(),
        code=CODE["evaluate"],
    shell:
        "python -m morphalign.evaluate --embeddings {input.embeddings} --out {output.metrics}"
        " --predictions {output.predictions} --run-json {params.run:q} {params.train_log}"
        " {params.settings} > {log} 2>&1"
