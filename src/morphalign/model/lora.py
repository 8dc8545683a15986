"""LoRA targeting: which towers get adapters, and on which modules.

Targets (the sweep axis) are registered in `morphalign.runs.TARGETS` with the towers each adapts; this module turns
towers into the modules LoRA wraps. Module names
(default the attention projections `q_proj, k_proj, v_proj, out_proj`) are matched by a regex:

- `scope: encoder` (default) matches `{tower}_model.encoder.layers.N.<block>.<name>` only. A bare name list would
  also wrap the `out_proj` inside the vision head's `nn.MultiheadAttention`, where LoRA silently does nothing.
- `scope: anywhere` matches the names anywhere in the chosen towers, as the reference code's plain list did
  (its `fc1`/`fc2` then also catch the vision pooling head's MLP).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from morphalign.errors import MorphalignError
from morphalign.runs import target as registered_target


def target_regex(target: str, module_names: Sequence[str], scope: str = "encoder") -> str:
    """The peft `target_modules` regex for one target."""
    spec = registered_target(target)
    if not spec.trained:
        raise MorphalignError(f"target {target!r} trains nothing and has no LoRA modules")
    if not module_names:
        raise MorphalignError("lora.target_modules is empty")
    towers = "|".join(spec.towers)
    names = "|".join(re.escape(n) for n in module_names)
    if scope == "encoder":
        return rf"({towers})_model\.encoder\.layers\.\d+\.(self_attn|mlp)\.({names})"
    if scope == "anywhere":
        return rf"({towers})_model\.(.*\.)?({names})"
    raise MorphalignError(f"lora.scope must be 'encoder' or 'anywhere', got {scope!r}")


def apply_lora(
    model,
    target: str,
    r: int,
    alpha: float,
    dropout: float,
    module_names: Sequence[str],
    scope: str = "encoder",
    train_logit_params: bool = False,
):
    """Wrap `model` with peft LoRA on the target's towers; everything else is frozen."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        bias="none",
        target_modules=target_regex(target, module_names, scope),
    )
    try:
        peft_model = get_peft_model(model, cfg)
    except ValueError as exc:
        raise MorphalignError(f"LoRA target {target!r}: no module matched {module_names} ({exc})") from exc
    if train_logit_params:
        base = peft_model.base_model.model
        base.logit_scale.requires_grad_(True)
        base.logit_bias.requires_grad_(True)
    return peft_model


def trainable_summary(model) -> dict[str, float]:
    """Trainable and total parameter counts, and the trainable share."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_params": trainable, "total_params": total, "trainable_fraction": trainable / max(total, 1)}
