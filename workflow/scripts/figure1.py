"""The paper's Figure 1: frozen against fine-tuned embeddings of the same image, both ways, over seeds."""

from morphalign.report import figures
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    p, i = snakemake.params, snakemake.input
    frozen = dict(zip(p.frozen_prompts, i.frozen, strict=True))
    trained: dict = {}
    for key, path in zip(p.trained_keys, i.trained, strict=True):
        trained.setdefault(tuple(key), []).append(path)
    print(figures.figure1(frozen, trained, p.main, p.ref, snakemake.output.figure, snakemake.output.table))
