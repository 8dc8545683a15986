"""The SigLIP pairwise sigmoid loss (Zhai et al. 2023, eq. 1).

For a batch of n pairs, every image-text pair (i, j) is a binary problem: positive when i == j, negative otherwise.
`logits = t_hat @ i_hat.T * exp(t') + b` with L2-normalised embeddings, and the loss is
`-sum_ij log sigmoid(z_ij * logits_ij) / n` with `z = +1` on the diagonal and `-1` elsewhere. This equals what
`SiglipModel(return_loss=True)` computes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sigmoid_loss(
    image_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor
) -> torch.Tensor:
    """Mean-over-rows SigLIP loss for paired (n, d) image and text embeddings (normalised here)."""
    img = F.normalize(image_embeds, dim=-1)
    txt = F.normalize(text_embeds, dim=-1)
    logits = txt @ img.t() * logit_scale.exp() + logit_bias
    n = logits.shape[0]
    signs = 2.0 * torch.eye(n, device=logits.device, dtype=logits.dtype) - 1.0
    return -F.logsigmoid(signs * logits).sum() / n
