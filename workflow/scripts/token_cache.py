"""Tokenise one prompt's captions once, recording the truncated share."""

from morphalign.cache.build import build_token_cache
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    print(
        build_token_cache(
            p.dataset,
            snakemake.input.captions,
            p.model_path,
            p.cache_dir,
            p.max_length,
            p.lowercase,
            snakemake.output.tokens,
            snakemake.output.stats,
        )
    )
