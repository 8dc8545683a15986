"""Table 1 beside the paper's, when the sweep ran the paper's setting; otherwise the paper's table and why not."""

from morphalign.report.paper import paper_page
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    paper_page(snakemake.input.table1, snakemake.output[0], snakemake.params.setting)
