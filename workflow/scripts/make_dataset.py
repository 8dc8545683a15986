"""Write the dataset folder (images.npy + manifest.csv) from the configured source."""

from pathlib import Path

from morphalign.data.sources import make_dataset
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    make_dataset(
        Path(snakemake.output.images).parent,
        source=snakemake.params.source,
        synthetic=snakemake.params.synthetic,
        val_size=snakemake.params.val_size,
        val_seed=snakemake.params.val_seed,
    )
