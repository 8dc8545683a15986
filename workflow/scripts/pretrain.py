"""Build the embedded tiny SigLIP and pretrain it on generic radio-sky scenes."""

import torch

from morphalign.model.tiny import TinySpec
from morphalign.pretrain.loop import PretrainSettings, pretrain
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    pretrain(snakemake.output[0], TinySpec(**snakemake.params.spec), PretrainSettings(**snakemake.params.settings))
