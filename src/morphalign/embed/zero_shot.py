"""Class prompts for zero-shot classification with the SigLIP text tower, as CLIP and open_clip do.

Each class has descriptions and the prompts are every template applied to every description ("a radio image of
{}."). Each prompt is embedded by the run's text tower (with its LoRA adapter, if any), L2-normalised, and the
class's prompts are averaged and normalised again: one `class_text` row per class, in the order of the config's
`zero_shot.classes` (class 0 first). `evaluate` then gives each test image the class whose row is nearest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from morphalign.errors import MorphalignError
from morphalign.io import read_json, write_json


def class_prompts(settings: dict[str, Any]) -> dict[str, list[str]]:
    """Every prompt of every class, from the config's `zero_shot` section; checked."""
    templates, classes = list(settings.get("templates") or []), dict(settings.get("classes") or {})
    if not templates or not classes:
        raise MorphalignError("zero_shot needs at least one template and one class (zero_shot.templates, .classes)")
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise MorphalignError(f"zero_shot.templates: {bad[0]!r} must hold exactly one '{{}}' for the description")
    empty = [name for name, descriptions in classes.items() if not descriptions]
    if empty:
        raise MorphalignError(f"zero_shot.classes.{empty[0]}: no descriptions")
    return {name: [t.format(d) for d in descriptions for t in templates] for name, descriptions in classes.items()}


def write_class_prompts(settings: dict[str, Any], out: str | Path) -> dict[str, list[str]]:
    prompts = class_prompts(settings)
    write_json(out, {"classes": prompts})
    return prompts


def class_embeddings(model, tokenizer, prompts_file: str | Path, max_length: int, lowercase: bool, device) -> tuple:
    """(class_text C x d float32, class names) for the prompts file, with the model as it is (adapter included)."""
    # torch here, not at the top: the class_prompts job, which only writes the prompts, then starts 1 s sooner
    import torch

    from morphalign.model.encode import text_features
    from morphalign.model.preprocess import tokenize

    classes: dict[str, list[str]] = read_json(prompts_file)["classes"]
    rows = []
    with torch.no_grad():
        for prompts in classes.values():
            ids = torch.from_numpy(tokenize(prompts, tokenizer, max_length, lowercase).input_ids).to(device)
            emb = torch.nn.functional.normalize(text_features(model, ids).float(), dim=-1)
            rows.append(torch.nn.functional.normalize(emb.mean(dim=0), dim=-1).cpu().numpy())
    return np.stack(rows).astype(np.float32), np.asarray(list(classes), dtype=np.str_)
