"""Render one results table (markdown or CSV) as a standalone HTML page for the report."""

from morphalign.report.pages import table_page
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    table_page(snakemake.input[0], snakemake.output[0], snakemake.params.title)
