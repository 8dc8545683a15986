"""The caption gallery: sampled test images of each class with every prompt's caption."""

from morphalign.report.gallery import caption_gallery
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    captions = dict(zip(p.prompts, snakemake.input.captions, strict=True))
    caption_gallery(p.dataset, captions, p.texts, snakemake.output[0], p.per_class, p.seed)
