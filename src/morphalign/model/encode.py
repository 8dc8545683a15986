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
    model.eval()
    imgs, txts = [], []
    for start in range(0, len(resized), batch_size):
        sl = slice(start, start + batch_size)
        px = pixel_values(resized[sl], spec, normalize).to(device)
        ids = torch.from_numpy(input_ids[sl]).to(device)
        imgs.append(image_features(model, px).float().cpu())
        txts.append(text_features(model, ids).float().cpu())
    return torch.cat(imgs).numpy(), torch.cat(txts).numpy()
