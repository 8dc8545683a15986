"""The two towers behind one module, the frozen tower's embeddings computed once, and the loss of a batch of rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from morphalign.errors import MorphalignError
from morphalign.model.encode import encode_images, encode_texts, image_features, text_features
from morphalign.model.loss import sigmoid_loss
from morphalign.model.preprocess import PixelSpec, pixel_values
from morphalign.runs import TOWERS


@dataclass(frozen=True)
class Pairs:
    """The training inputs: resized images and token ids (dataset order), and the train and validation rows."""

    pixels: np.ndarray
    ids: np.ndarray
    train_rows: np.ndarray
    val_rows: np.ndarray
    spec: PixelSpec
    normalize: bool  # SigLIP's [-1, 1] pixels (else [0, 1])

    def images(self, rows: np.ndarray, device: torch.device | str) -> torch.Tensor:
        return pixel_values(self.pixels[rows], self.spec, self.normalize).to(device)

    def tokens(self, rows: np.ndarray, device: torch.device | str) -> torch.Tensor:
        return torch.from_numpy(self.ids[rows]).to(device)


class Towers(torch.nn.Module):
    """Both towers behind one `forward`, so data-parallel wrappers see (and synchronise) every trained weight."""

    def __init__(self, peft_model) -> None:
        super().__init__()
        self.peft = peft_model

    def forward(self, pixels: torch.Tensor | None = None, input_ids: torch.Tensor | None = None):
        base = self.peft.base_model.model
        img = image_features(base, pixels) if pixels is not None else None
        txt = text_features(base, input_ids) if input_ids is not None else None
        return img, txt, base.logit_scale, base.logit_bias


def frozen_features(
    towers: Towers, pairs: Pairs, trained: tuple[str, ...], device: torch.device | str, cached: np.ndarray | None = None
) -> torch.Tensor | None:
    """Embeddings of the tower LoRA leaves untouched, for every dataset row (N x d); None when both towers train.

    They never change during training, so they are not computed at every step: they come from `cached` (the
    sweep's cache, `embed.frozen`) or, without one, are computed here once, by the same code in the same batches,
    so either way they are bit-identical.
    """
    frozen = [t for t in TOWERS if t not in trained]
    if len(frozen) != 1:
        return None
    if cached is None:
        base = towers.peft.base_model.model
        if frozen[0] == "text":
            cached = encode_texts(base, pairs.ids, device=device)
        else:
            cached = encode_images(base, pairs.pixels, pairs.spec, pairs.normalize, device=device)
    elif len(cached) != len(pairs.ids):
        raise MorphalignError(f"frozen {frozen[0]} features hold {len(cached)} rows, the dataset {len(pairs.ids)}")
    return torch.from_numpy(np.ascontiguousarray(cached)).to(device)


class BatchLoss:
    """The sigmoid loss of a global batch of rows.

    Data-parallel: every process draws the same global batch, embeds its own slice, and the loss is computed over
    the embeddings gathered from all processes (gradients flow back to each process's share), so the loss, its
    negatives and the optimiser steps are those of a single-process run.
    """

    def __init__(
        self,
        pairs: Pairs,
        trained: tuple[str, ...],
        frozen: torch.Tensor | None,
        device: torch.device | str,
        n_proc: int = 1,
        rank: int = 0,
        reduction: str = "siglip",
    ) -> None:
        self.pairs, self.trained, self.frozen = pairs, trained, frozen
        self.device, self.n_proc, self.rank, self.reduction = device, n_proc, rank, reduction

    def _gather(self, x: torch.Tensor) -> torch.Tensor:
        """All processes' embeddings, in rank order, with gradients flowing back to each process's share."""
        if self.n_proc == 1:
            return x
        import torch.distributed.nn.functional as dist_fn

        return torch.cat(dist_fn.all_gather(x), dim=0)

    def __call__(self, net: torch.nn.Module, rows: list[int], distributed: bool) -> torch.Tensor:
        mine = rows
        if distributed and self.n_proc > 1:
            per = len(rows) // self.n_proc
            mine = rows[: per * self.n_proc][self.rank * per : (self.rank + 1) * per]
        r = np.asarray(mine)
        px = self.pairs.images(r, self.device) if "vision" in self.trained else None
        tok = self.pairs.tokens(r, self.device) if "text" in self.trained else None
        img, txt, scale, bias = net(pixels=px, input_ids=tok)
        if img is None or txt is None:
            assert self.frozen is not None, "a frozen tower needs its features"
            cached = self.frozen[torch.as_tensor(r, device=self.frozen.device)]
            img, txt = (cached, txt) if img is None else (img, cached)
        if distributed:
            img, txt = self._gather(img.float()), self._gather(txt.float())
        return sigmoid_loss(img.float(), txt.float(), scale, bias, self.reduction)
