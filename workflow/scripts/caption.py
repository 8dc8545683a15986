"""Caption every image of the dataset under one prompt."""

from morphalign.captions.backends import Prompt
from morphalign.captions.stage import run_captions
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    cfg = dict(snakemake.params.prompt)
    prompt = Prompt(
        name=snakemake.wildcards.prompt,
        text=cfg.pop("text"),
        backend=cfg.pop("backend"),
        options=cfg,
    )
    run_captions(snakemake.params.dataset, prompt, snakemake.output[0])
