"""Collect every run's metrics and predictions into runs.csv and Table 1 v2 (csv, md, tex)."""

from morphalign.report.aggregate import Uncertainty, aggregate
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    inp, params = snakemake.input, snakemake.params
    aggregate(
        list(inp.metrics),
        list(inp.predictions),
        dict(snakemake.output.items()),
        params.main,
        params.ref,
        Uncertainty(**params.uncertainty),
        params.f1_average,
        params.positive_class,
        params.controls,
        snakemake.threads,
    )
