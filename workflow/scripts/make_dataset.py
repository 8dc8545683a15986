"""Write the dataset folder (images.npy + manifest.csv) from the configured source."""

from pathlib import Path

from morphalign.data.sources import make_dataset
from morphalign.download import mirror_dirs
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    make_dataset(
        Path(snakemake.output.images).parent,
        snakemake.params.dataset,
        download_dir=snakemake.params.download_dir,
        mirrors=mirror_dirs(snakemake.params.data_mirror),
    )
