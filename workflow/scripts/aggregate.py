"""Collect every run's metrics into runs.csv and render Table 1."""

from morphalign.report.aggregate import aggregate
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    out = snakemake.output
    aggregate(list(snakemake.input), out.runs, out.md, out.tex, snakemake.params.main, snakemake.params.ref)
