"""Shared fixtures: a tiny SigLIP and a small synthetic dataset, built once per session in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach the Hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from morphalign.model.tiny import TinySpec, write_tiny

    folder = tmp_path_factory.mktemp("models") / "tiny-siglip"
    write_tiny(folder, TinySpec(image_size=32, patch_size=8))  # 32 px keeps CPU tests fast
    return folder


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    from morphalign.data.dataset import write_dataset
    from morphalign.data.synthetic import generate

    folder = tmp_path_factory.mktemp("data") / "synthetic"
    images, manifest = generate(n_train=48, n_test=16, seed=7, val_size=12, val_seed=42)
    write_dataset(folder, images, manifest)
    return folder
