"""Ask Gemini for the class of every test image, zero-shot or k-shot."""

from pathlib import Path

from morphalign.classify.vlm import ClassifySettings, run_classify
from morphalign.gemini.client import GeminiSettings
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    settings = ClassifySettings.from_config(snakemake.wildcards.name, dict(snakemake.params.classify))
    metrics = run_classify(
        snakemake.params.dataset,
        settings,
        GeminiSettings.from_config(dict(snakemake.params.captioning)),
        snakemake.params.cache_dir,
        Path(snakemake.output.metrics).parent,
    )
    print({k: metrics[k] for k in ("name", "shots", "n", "errors", "accuracy", "macro_f1", "binary_f1")})
