"""Forward passes of the two towers, returning pooled (un-normalised) embeddings."""

from __future__ import annotations

import numpy as np
import torch

from morphalign.model.preprocess import PixelSpec, pixel_values


def _pooled(out) -> torch.Tensor:
    # transformers 5 returns a BaseModelOutputWithPooling whose pooler_output is the projected embedding
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def image_features(model, pixels: torch.Tensor) -> torch.Tensor:
    """Image embeddings for a float N x 3 x S x S batch."""
    return _pooled(model.get_image_features(pixel_values=pixels))


def text_features(model, input_ids: torch.Tensor) -> torch.Tensor:
    """Text embeddings for an N x L batch of token ids (ids only, as SigLIP was trained)."""
    return _pooled(model.get_text_features(input_ids=input_ids))


@torch.no_grad()
def encode_images(
    model,
    resized: np.ndarray,
    spec: PixelSpec,
    normalize: bool,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Image embeddings (float32, one row per image) of resized uint8 images, in batches, in eval mode.

    Every caller embeds in the same batches of the same rows (the whole dataset, in order), so an embedding computed
    once and cached is bit-identical to one computed again in a run.
    """
    model.eval()
    out = []
    for start in range(0, len(resized), batch_size):
        px = pixel_values(resized[start : start + batch_size], spec, normalize).to(device)
        out.append(image_features(model, px).float().cpu())
    return torch.cat(out).numpy()


@torch.no_grad()
def encode_texts(model, input_ids: np.ndarray, batch_size: int = 64, device: torch.device | str = "cpu") -> np.ndarray:
    """Text embeddings (float32, one row per caption) of token ids, in batches, in eval mode."""
    model.eval()
    out = []
    for start in range(0, len(input_ids), batch_size):
        ids = torch.from_numpy(input_ids[start : start + batch_size]).to(device)
        out.append(text_features(model, ids).float().cpu())
    return torch.cat(out).numpy()


def embed_all(
    model,
    resized: np.ndarray,
    input_ids: np.ndarray,
    spec: PixelSpec,
    normalize: bool,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Image and text embeddings for aligned arrays of resized images and token ids, in eval mode."""
    return (
        encode_images(model, resized, spec, normalize, batch_size, device),
        encode_texts(model, input_ids, batch_size, device),
    )
