"""Write one run's resolved settings as JSON: the only way config reaches training, embedding and evaluation."""

from morphalign.io import write_json
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    write_json(snakemake.output[0], dict(snakemake.params.run))
