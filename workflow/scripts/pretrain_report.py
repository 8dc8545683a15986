"""Copy the tiny model's pretraining report into results/ and draw it."""

from morphalign.report.pretraining import pretraining_report
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    pretraining_report(snakemake.input.model, snakemake.output.json, snakemake.output.figure)
