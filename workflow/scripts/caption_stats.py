"""Statistics of every caption set: a table and a figure."""

from morphalign.report.caption_stats import caption_stats
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    prompts = snakemake.params.prompts
    caption_stats(
        dict(zip(prompts, snakemake.input.captions, strict=True)),
        dict(zip(prompts, snakemake.input.stats, strict=True)),
        snakemake.output.table,
        snakemake.output.figure,
    )
