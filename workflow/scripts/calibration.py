"""How separable the images and each caption set are, without any model."""

from morphalign.report.calibration import calibration
from morphalign.scripting import logged

with logged(snakemake.log[0]):
    captions = dict(zip(snakemake.params.prompts, snakemake.input.captions, strict=True))
    print(calibration(snakemake.params.dataset, captions, snakemake.output[0]).to_string())
