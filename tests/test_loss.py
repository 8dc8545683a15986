"""The sigmoid loss against a naive loop and against SiglipModel's own loss."""

from __future__ import annotations

import math

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
