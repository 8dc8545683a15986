"""Per-epoch checkpoints that resume a killed fine-tune only onto identical inputs.

A checkpoint holds the trainable weights, the optimiser and scheduler, every RNG state and the early-stopping state,
and a resume key: hashes of the run's settings, the training code, the base model, and the contents
of the dataset, the pixel cache and the token cache. A restarted job resumes only when every part of the key
matches; otherwise it starts afresh and says which inputs differ. The folder is removed when the run completes,
with any temporary file a kill left in it.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from morphalign.artifacts import content_hash
from morphalign.io import atomic_path
from morphalign.provenance import code_hash
from morphalign.runs import RunConfig

STATE_FILE = "state.pt"


def model_identity(model_path: str) -> str:
    """A local model folder's content hash; a Hub id names its model."""
    folder = Path(model_path)
    if not folder.is_dir():
        return model_path
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return content_hash(*files) if files else model_path


def resume_key(cfg: RunConfig, model_path: str, dataset_dir: Path, pixels: Path, tokens: Path) -> dict[str, str]:
    """What a checkpoint may be resumed onto, part by part."""
    settings = json.dumps(cfg.to_dict(), sort_keys=True).encode()
    return {
        "run settings": hashlib.sha256(settings).hexdigest()[:16],
        "training code": code_hash("morphalign.train"),
        "base model": model_identity(model_path),
        "dataset": content_hash(dataset_dir / "images.npy", dataset_dir / "manifest.csv"),
        "pixel cache": content_hash(pixels),
        "token cache": content_hash(tokens),
    }


def rng_state(gen: torch.Generator) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "loader": gen.get_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    gen.set_state(state["loader"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(folder: Path, state: dict[str, Any]) -> None:
    """Write the state atomically: a kill while saving leaves the previous checkpoint intact."""
    with atomic_path(folder / STATE_FILE) as tmp:
        torch.save(state, tmp)


def load(folder: Path | None, key: dict[str, str]) -> dict[str, Any] | None:
    """The saved state when there is one and it was made from identical inputs; None (with the reason) otherwise."""
    if folder is None or not (folder / STATE_FILE).is_file():
        return None
    state = torch.load(folder / STATE_FILE, weights_only=False, map_location="cpu")
    saved = state.get("resume_key")
    if saved != key:
        differ = sorted(k for k in key if not isinstance(saved, dict) or saved.get(k) != key[k])
        print(f"checkpoint made from other inputs ({', '.join(differ)} differ): starting afresh", file=sys.stderr)
        return None
    return state


def remove(folder: Path | None) -> None:
    """Remove the checkpoint folder, with any temporary file a killed save left behind."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
