"""The zero-shot class prompts (templates x class descriptions), checked and written for the embed jobs."""

from morphalign.embed.zero_shot import write_class_prompts
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    prompts = write_class_prompts(dict(snakemake.params.zero_shot), snakemake.output[0])
    print({name: len(p) for name, p in prompts.items()})
