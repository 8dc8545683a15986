"""SigLIP-2 preprocessing, split so the expensive half runs once per dataset and resolution.

Images: the image processor resizes (bilinear for SigLIP-2) a uint8 RGB image to the model's resolution, rescales
by 1/255 and normalises with mean 0.5 / std 0.5, giving pixels in [-1, 1] (the model card's expectation).
`resize_images` does the resize once and keeps uint8 (the PIL resize works on uint8, so caching it loses nothing);
`pixel_values` does the cheap rescale/normalise per batch. `normalize=False` gives [0, 1] pixels, as the reference
code fed them.

Text: captions are lowercased (SigLIP-2 was trained on lowercase text; the tokenizer does not lowercase), padded
to `max_length` (64) and truncated. The share of captions that did not fit is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

_RESAMPLE = {
    0: Image.Resampling.NEAREST,
    1: Image.Resampling.LANCZOS,
    2: Image.Resampling.BILINEAR,
    3: Image.Resampling.BICUBIC,
}


@dataclass(frozen=True)
class PixelSpec:
    """What the image processor does, read from the model's processor."""

    size: int
    resample: int
    rescale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_processor(cls, processor) -> PixelSpec:
        ip = getattr(processor, "image_processor", processor)
        size = ip.size  # a dict or a SizeDict with height/width
        h = size["height"] if not isinstance(size, int) else size
        w = size["width"] if not isinstance(size, int) else size
        if h != w:
            raise ValueError(f"only square model inputs are supported, got {h}x{w}")
        resample = ip.resample
        resample = int(getattr(resample, "value", resample))
        return cls(
            size=int(h),
            resample=resample,
            rescale=float(ip.rescale_factor),
            mean=tuple(float(v) for v in ip.image_mean),
            std=tuple(float(v) for v in ip.image_std),
        )


def resize_images(images: np.ndarray, spec: PixelSpec) -> np.ndarray:
    """Resize N x H x W uint8 greyscale images to N x S x S uint8, the way the image processor does."""
    out = np.empty((len(images), spec.size, spec.size), dtype=np.uint8)
    method = _RESAMPLE.get(spec.resample, Image.Resampling.BILINEAR)
    for i, img in enumerate(images):
        out[i] = np.asarray(Image.fromarray(img, mode="L").resize((spec.size, spec.size), method))
    return out


def pixel_values(resized: np.ndarray, spec: PixelSpec, normalize: bool = True) -> torch.Tensor:
    """uint8 N x S x S -> float N x 3 x S x S: grey copied to RGB, rescaled, and normalised if asked."""
    x = torch.from_numpy(np.ascontiguousarray(resized)).float().mul_(spec.rescale)
    x = x.unsqueeze(1).expand(-1, 3, -1, -1)
    if normalize:
        mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
        std = torch.tensor(spec.std).view(1, 3, 1, 1)
        x = (x - mean) / std
    return x.contiguous()


@dataclass(frozen=True)
class Tokens:
    """Tokenised captions and how many did not fit."""

    input_ids: np.ndarray  # N x max_length int64
    truncated: np.ndarray  # N bool
    lengths: np.ndarray  # N int, token count before truncation


def tokenize(captions: list[str], tokenizer, max_length: int = 64, lowercase: bool = True) -> Tokens:
    """Tokenise captions as SigLIP-2 expects: lowercase, pad to `max_length`, truncate."""
    texts = [c.lower() if lowercase else c for c in captions]
    full = tokenizer(texts, add_special_tokens=True)["input_ids"]
    lengths = np.array([len(ids) for ids in full], dtype=np.int64)
    enc = tokenizer(texts, padding="max_length", max_length=max_length, truncation=True)
    return Tokens(
        input_ids=np.asarray(enc["input_ids"], dtype=np.int64), truncated=lengths > max_length, lengths=lengths
    )
