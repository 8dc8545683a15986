"""morphalign: do captions carry the morphology of radio galaxies?

A Snakemake-orchestrated pipeline that captions radio-galaxy images, fine-tunes SigLIP-2 with LoRA on the
image-caption pairs, and measures how well the two modalities align.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("morphalign")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
