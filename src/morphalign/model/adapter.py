"""A trained run's LoRA adapter on disk: peft's `save_pretrained` folder, plus the logit scale and bias when they
were trained (peft does not save those two)."""

from __future__ import annotations

from pathlib import Path

import torch

from morphalign.errors import MorphalignError
from morphalign.io import atomic_path
from morphalign.model.load import load_model

LOGIT_PARAMS_FILE = "logit_params.pt"


def save_adapter(peft_model, folder: str | Path, logit_params: bool) -> None:
    """Write the adapter folder atomically: a killed job never leaves a folder that looks complete."""
    with atomic_path(folder, directory=True) as tmp:
        peft_model.save_pretrained(tmp)
        if logit_params:
            b = peft_model.base_model.model
            torch.save(
                {"logit_scale": b.logit_scale.detach().cpu(), "logit_bias": b.logit_bias.detach().cpu()},
                tmp / LOGIT_PARAMS_FILE,
            )


def load_adapted(model_path: str, cache_dir: str | None, adapter_dir: str | Path | None):
    """The base model, with a run's LoRA adapter (and trained logit parameters) when there is one; in eval mode."""
    model = load_model(model_path, cache_dir)
    if adapter_dir is None:
        return model
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise MorphalignError(f"{adapter_dir}: no adapter_config.json; not a saved LoRA adapter")
    model = PeftModel.from_pretrained(model, adapter_dir)
    extra = adapter_dir / LOGIT_PARAMS_FILE
    if extra.is_file():
        state = torch.load(extra, weights_only=True)
        with torch.no_grad():
            model.base_model.model.logit_scale.copy_(state["logit_scale"])
            model.base_model.model.logit_bias.copy_(state["logit_bias"])
    return model.eval()
