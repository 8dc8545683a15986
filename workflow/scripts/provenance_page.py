"""The provenance page: config, library versions, each run's device and training time, and caption costs."""

from morphalign.report.runinfo import provenance_page
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    inp, p = snakemake.input, snakemake.params
    provenance_page(inp.runs, list(inp.audits), p.report_dirs, p.config, snakemake.output[0])
