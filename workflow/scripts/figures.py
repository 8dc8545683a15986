"""Draw the sweep's figures."""

from morphalign.report import figures
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    p, out = snakemake.params, snakemake.output
    emb = {tuple(k): f for k, f in zip(p.pairs, snakemake.input.embeddings, strict=True)}
    figures.cosine_distributions(emb, out.cosine)
    figures.caption_alignment(emb, p.main, p.ref, out.alignment)
    figures.tsne_grid(emb, out.tsne, perplexity=p.perplexity, seed=p.seed, run_seed=p.run_seed, link_pairs=p.link_pairs)
    figures.training_curves(list(snakemake.input.logs), out.curves)
