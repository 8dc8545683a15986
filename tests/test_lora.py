"""LoRA targeting: which modules get adapters and the trainable share, per target."""

from __future__ import annotations

import math
import re

import pytest
from transformers import AutoModel

from morphalign.errors import MorphalignError
from morphalign.model.lora import apply_lora, target_regex, trainable_summary

ATTN = ["q_proj", "k_proj", "v_proj", "out_proj"]


def _wrapped(model_dir, target, names=ATTN, scope="encoder"):
    model = AutoModel.from_pretrained(model_dir)
    peft_model = apply_lora(model, target, r=8, alpha=16, dropout=0.1, module_names=names, scope=scope)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    return peft_model, trainable


@pytest.mark.parametrize("target,towers", [("vision", {"vision"}), ("text", {"text"}), ("full", {"vision", "text"})])
def test_target_towers_and_modules(tiny_model_dir, target, towers):
    peft_model, trainable = _wrapped(tiny_model_dir, target)
    assert trainable, "no trainable parameters"
    assert all("lora_" in n for n in trainable)
    seen_towers = {re.search(r"(vision|text)_model", n).group(1) for n in trainable}
    assert seen_towers == towers
    assert all(".encoder.layers." in n and ".self_attn." in n for n in trainable)
    # 2 layers x 4 projections x (A, B) per tower
    assert len(trainable) == 16 * len(towers)
    s = trainable_summary(peft_model)
    # each projection is 32 x 32: A (8 x 32) + B (32 x 8) = 512 per projection
    assert s["trainable_params"] == 512 * 8 * len(towers)
    base_total = sum(p.numel() for p in AutoModel.from_pretrained(tiny_model_dir).parameters())
    assert s["total_params"] == base_total + s["trainable_params"]
    assert s["trainable_fraction"] == pytest.approx(s["trainable_params"] / s["total_params"])


def test_head_attention_is_not_wrapped(tiny_model_dir):
    _, trainable = _wrapped(tiny_model_dir, "vision")
    assert not any("head" in n for n in trainable)


def test_anywhere_scope_reproduces_reference_targeting(tiny_model_dir):
    _, trainable = _wrapped(tiny_model_dir, "vision", ["k_proj", "v_proj", "q_proj", "fc1", "fc2"], "anywhere")
    assert any("vision_model.head.mlp.fc1" in n for n in trainable)
    assert not any("text_model" in n for n in trainable)


def test_base_weights_frozen(tiny_model_dir):
    peft_model, _ = _wrapped(tiny_model_dir, "full")
    frozen = [n for n, p in peft_model.named_parameters() if "lora_" not in n]
    assert frozen and not any(p.requires_grad for n, p in peft_model.named_parameters() if "lora_" not in n)


def test_train_logit_params(tiny_model_dir):
    model = AutoModel.from_pretrained(tiny_model_dir)
    pm = apply_lora(model, "text", 4, 8, 0.0, ATTN, train_logit_params=True)
    names = {n for n, p in pm.named_parameters() if p.requires_grad}
    assert any(n.endswith("logit_scale") for n in names) and any(n.endswith("logit_bias") for n in names)


def test_unknown_and_frozen_targets():
    with pytest.raises(MorphalignError, match="unknown LoRA target 'tower'"):
        target_regex("tower", ATTN)
    with pytest.raises(MorphalignError, match="frozen"):
        target_regex("frozen", ATTN)
    with pytest.raises(MorphalignError, match="scope"):
        target_regex("text", ATTN, scope="everywhere")


def test_no_matching_module_is_an_error(tiny_model_dir):
    model = AutoModel.from_pretrained(tiny_model_dir)
    with pytest.raises(MorphalignError, match="no module matched"):
        apply_lora(model, "text", 4, 8, 0.0, ["not_a_module"])


def _base_size_shares(r: int, names: list[str], scope: str) -> dict[str, float]:
    """Trainable share (%) per target on SigLIP-2 base's architecture, built on the meta device: no download, no
    weights allocated, the same modules and parameter counts as `google/siglip2-base-patch16-224`."""
    import torch
    from transformers import SiglipModel

    from morphalign.model.sizes import BASE_PARAMETERS, base_config

    config = base_config()
    shares = {}
    for target in ("vision", "text", "full"):
        with torch.device("meta"):
            model = SiglipModel(config)
        assert sum(p.numel() for p in model.parameters()) == BASE_PARAMETERS  # 375.2M, as the checkpoint
        wrapped = apply_lora(model, target, r=r, alpha=16, dropout=0.1, module_names=names, scope=scope)
        shares[target] = 100 * trainable_summary(wrapped)["trainable_fraction"]
    return shares


PAPER_SHARES = {"vision": 0.17, "text": 0.16, "full": 0.33}  # the paper's reported trainable shares, in %


@pytest.mark.slow
def test_trainable_shares_at_base_size_against_the_paper():
    ours = _base_size_shares(8, ATTN, "encoder")  # our default: r = 8 (the paper's text) on q, k, v, out
    code = _base_size_shares(4, ["k_proj", "v_proj", "q_proj", "fc1", "fc2"], "anywhere")  # the reference code
    assert ours == pytest.approx({"vision": 0.157, "text": 0.157, "full": 0.313}, abs=5e-4)
    assert code == pytest.approx({"vision": 0.165, "text": 0.157, "full": 0.322}, abs=5e-4)
    # the code's setting reproduces the paper's vision and text shares to two decimals (the vision pooling head's
    # MLP caught by fc1/fc2 is what lifts vision to 0.17); our default matches the text share only
    assert {t: round(v, 2) for t, v in code.items()} == {"vision": 0.17, "text": 0.16, "full": 0.32}
    assert {t: round(v, 2) for t, v in ours.items()} == {"vision": 0.16, "text": 0.16, "full": 0.31}
    # neither gives the paper's 0.33 for both towers; the code's three shares rounded *up* are exactly the paper's
    assert {t: math.ceil(v * 100) / 100 for t, v in code.items()} == PAPER_SHARES
    assert {t: math.ceil(v * 100) / 100 for t, v in ours.items()} != PAPER_SHARES
