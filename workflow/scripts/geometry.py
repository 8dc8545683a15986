"""The embedding geometry of every run: a table and a figure."""

from morphalign.report.geometry import geometry_tables
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    out = snakemake.output
    print(geometry_tables(snakemake.input.runs, out.csv, out.md, out.figure).to_string())
