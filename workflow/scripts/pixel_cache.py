"""Resize every image once to the model's resolution."""

from morphalign.cache.build import build_pixel_cache
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    print(
        build_pixel_cache(
            snakemake.params.dataset, snakemake.params.model_path, snakemake.params.cache_dir, snakemake.output[0]
        )
    )
