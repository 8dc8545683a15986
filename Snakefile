# morphalign: do captions carry the morphology of radio galaxies?
# Data -> captions -> caches -> LoRA fine-tuning -> embeddings -> metrics -> table and figures.
# Run: `snakemake --cores 2` (the embedded offline default); settings live in config/config.yaml.


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/captions.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/cache.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        FINAL_OUTPUTS,
