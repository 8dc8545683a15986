"""Build the embedded tiny SigLIP offline and save it with save_pretrained."""

from morphalign.model.tiny import TinySpec, write_tiny
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    write_tiny(snakemake.output[0], TinySpec(**snakemake.params.spec))
