"""The VLM classification runs beside the SigLIP probes, with intervals."""

from morphalign.report.vlm import classify_table
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    table = classify_table(
        list(snakemake.input.metrics),
        list(snakemake.input.predictions),
        snakemake.input.runs,
        snakemake.params.main,
        dict(snakemake.params.uncertainty),
        snakemake.output.csv,
        snakemake.output.md,
    )
    print(table.to_string())
