"""Shared fixtures: a tiny SigLIP and a small synthetic dataset, built once per session in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach the Hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SHARED_DATA = REPO.parent / "shared" / "data"
MIRABEST_F = SHARED_DATA / "mirabest" / "MiraBest_F_batches.tar.gz"
PAPER_CAPTIONS = SHARED_DATA / "paper_captions"


def need_shared(path: Path) -> Path:
    """The shared data file or folder; skip when it is absent, except in CI, where it must be there."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must run with ../shared beside the repository")
        pytest.skip(f"{path} is not here (the tests look for ../shared beside the repository)")
    return path


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


@pytest.fixture(scope="session")
def caches(small_dataset, tiny_model_dir, tmp_path_factory):
    """Curated describer captions, the pixel cache and the token cache of the small dataset."""
    from morphalign.cache import build_pixel_cache, build_token_cache
    from morphalign.captions.backends import Prompt
    from morphalign.captions.stage import run_captions

    d = tmp_path_factory.mktemp("caches")
    run_captions(small_dataset, Prompt("curated", "Describe.", "describer", {"style": "curated"}), d / "cap.csv")
    build_pixel_cache(small_dataset, str(tiny_model_dir), None, d / "pixels.npy")
    build_token_cache(
        small_dataset, d / "cap.csv", str(tiny_model_dir), None, 64, True, d / "tok.npz", d / "stats.json"
    )
    return d
