"""The SigLIP pairwise sigmoid loss (Zhai et al. 2023, eq. 1).

For a batch of n pairs, every image-text pair (i, j) is a binary problem: positive when i == j, negative otherwise.
`logits = t_hat @ i_hat.T * exp(t') + b` with L2-normalised embeddings, and the loss is
`-sum_ij log sigmoid(z_ij * logits_ij) / n` with `z = +1` on the diagonal and `-1` elsewhere. This equals what
`SiglipModel(return_loss=True)` computes.

`reduction="mean"` divides by n^2 instead of n (the mean binary cross-entropy over all n^2 pairs), as the reference
code did: the loss and its gradients are n times smaller, which matters with gradient clipping.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REDUCTIONS = ("siglip", "mean")


def sigmoid_loss(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
    reduction: str = "siglip",
) -> torch.Tensor:
    """SigLIP loss for paired (n, d) image and text embeddings (normalised here): sum / n, or sum / n^2 ("mean")."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"loss reduction must be one of {REDUCTIONS}, not {reduction!r}")
    img = F.normalize(image_embeds, dim=-1)
    txt = F.normalize(text_embeds, dim=-1)
    logits = txt @ img.t() * logit_scale.exp() + logit_bias
    n = logits.shape[0]
    signs = 2.0 * torch.eye(n, device=logits.device, dtype=logits.dtype) - 1.0
    total = -F.logsigmoid(signs * logits).sum()
    return total / n if reduction == "siglip" else total / (n * n)
