"""Audit one caption set: class-name leaks, caption-only classifiers, duplicates."""

from morphalign.captions.audit import AuditSettings, audit_captions
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    report = audit_captions(
        snakemake.params.dataset,
        snakemake.input.captions,
        snakemake.wildcards.prompt,
        AuditSettings.from_config(dict(snakemake.params.settings)),
        snakemake.output[0],
    )
    print({k: report[k] for k in ("captions", "captions_with_any_leak", "classifier")})
