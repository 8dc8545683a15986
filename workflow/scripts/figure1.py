"""The paper's Figure 1 (frozen against fine-tuned embeddings of the same image, both ways, over seeds), or its
version for the shuffled-caption controls."""

from morphalign.report import figures
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    p, i = snakemake.params, snakemake.input
    frozen = dict(zip(p.frozen_prompts, i.frozen, strict=True))
    trained: dict = {}
    for key, path in zip(p.trained_keys, i.trained, strict=True):
        trained.setdefault(tuple(key), []).append(path)
    extra = {}
    if p.controls:  # the shuffled controls' version
        extra = {
            "pairs": figures.control_pairs(p.main, p.ref, list(p.controls)),
            "title": "Shuffled-caption controls: same image, frozen vs fine-tuned embeddings (all seeds pooled)",
            "only_changed": True,
        }
    out = snakemake.output
    print(figures.figure1(frozen, trained, p.main, p.ref, out.figure, out.table, **extra))
