"""One run's retrieval examples: its top test images for sampled test captions, beside the frozen model's."""

from morphalign.report.gallery import retrieval_examples
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    inp, p = snakemake.input, snakemake.params
    before = inp.get("before")  # absent when the sweep has no frozen target
    retrieval_examples(
        inp.after, before, p.dataset, inp.captions, snakemake.output[0], p.title, p.per_class, p.seed, p.k
    )
