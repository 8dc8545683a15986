"""Gather every caption set's audit into one table."""

from morphalign.report.caption_stats import audit_table
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    print(audit_table(list(snakemake.input), snakemake.output[0]).to_string())
