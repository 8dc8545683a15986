"""Caption every image of the dataset under one prompt."""

from morphalign.captions.backends import Context, Prompt
from morphalign.captions.stage import run_captions
from morphalign.download import mirror_dirs
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    cfg = dict(snakemake.params.prompt)
    if "source" in snakemake.input.keys():  # noqa: SIM118 - Snakemake input is a list: `in` tests paths
        cfg["source_csv"] = snakemake.input.source
    prompt = Prompt(
        name=snakemake.wildcards.prompt,
        text=cfg.pop("text"),
        backend=cfg.pop("backend"),
        options=cfg,
    )
    context = Context(
        download_dir=snakemake.params.download_dir,
        mirrors=tuple(mirror_dirs(snakemake.params.data_mirror)),
        captioning=dict(snakemake.params.captioning),
        cache_dir=snakemake.params.cache_dir,
        report_dir=snakemake.params.report_dir,
    )
    overrides = snakemake.input.get("overrides")
    run_captions(snakemake.params.dataset, prompt, snakemake.output[0], context, overrides)
