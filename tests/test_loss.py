"""The sigmoid loss against a naive loop and against SiglipModel's own loss."""

from __future__ import annotations

import math

import pytest
import torch

from morphalign.model.loss import sigmoid_loss


def naive(img, txt, scale, bias):
    img = img / img.norm(dim=-1, keepdim=True)
    txt = txt / txt.norm(dim=-1, keepdim=True)
    n = len(img)
    total = 0.0
    for i in range(n):
        for j in range(n):
            z = 1.0 if i == j else -1.0
            logit = float(txt[i] @ img[j]) * math.exp(scale) + bias
            total += -math.log(1.0 / (1.0 + math.exp(-z * logit)))
    return total / n


def test_matches_naive_loop():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    for scale, bias in ((math.log(10), -10.0), (0.0, 0.0), (1.3, 2.0)):
        got = sigmoid_loss(img, txt, torch.tensor(scale), torch.tensor(bias))
        assert abs(float(got) - naive(img.double(), txt.double(), scale, bias)) < 1e-4


def test_matches_siglip_model(tiny_model_dir):
    from transformers import AutoModel

    from morphalign.model.encode import image_features, text_features

    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 200, (4, 64), generator=g)
    px = torch.randn(4, 3, 32, 32, generator=g)
    with torch.no_grad():
        ref = model(input_ids=ids, pixel_values=px, return_loss=True).loss
        ours = sigmoid_loss(image_features(model, px), text_features(model, ids), model.logit_scale, model.logit_bias)
    assert torch.allclose(ref, ours, atol=1e-5)


def test_mean_reduction_is_the_summed_loss_over_b_squared():
    """The reference code averaged BCE over all B^2 pairs: exactly the SigLIP loss (sum / B) times 1/B."""
    g = torch.Generator().manual_seed(2)
    img, txt = torch.randn(16, 7, generator=g), torch.randn(16, 7, generator=g)
    scale, bias = torch.tensor(math.log(10)), torch.tensor(-10.0)
    siglip = sigmoid_loss(img, txt, scale, bias)
    mean = sigmoid_loss(img, txt, scale, bias, reduction="mean")
    assert torch.allclose(mean, siglip / 16, rtol=1e-6)
    # and it is the BCE-with-logits mean over the 16 x 16 pairs, as the reference wrote it
    logits = torch.nn.functional.normalize(txt, dim=-1) @ torch.nn.functional.normalize(img, dim=-1).T * 10 - 10
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.eye(16))
    assert torch.allclose(mean, bce, rtol=1e-5)
    with pytest.raises(ValueError, match="'sum'"):
        sigmoid_loss(img, txt, scale, bias, reduction="sum")
