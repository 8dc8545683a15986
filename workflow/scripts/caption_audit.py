"""Audit one caption set: class-name leaks, caption-only classifiers, duplicates, and the optional LLM judge."""

from morphalign.captions.audit import AuditSettings, audit_captions
from morphalign.gemini.client import GeminiSettings
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    settings = AuditSettings.from_config(dict(snakemake.params.settings))
    judge_with = None
    if settings.judge.enabled:
        gemini = GeminiSettings.from_config(dict(snakemake.params.captioning))
        judge_with = (gemini, snakemake.params.cache_dir, snakemake.params.report_dir)
    report = audit_captions(
        snakemake.params.dataset,
        snakemake.input.captions,
        snakemake.wildcards.prompt,
        settings,
        snakemake.output[0],
        judge_with,
    )
    print({k: report[k] for k in ("captions", "captions_with_any_leak", "classifier", "judge")})
