"""Dispatch from `dataset.source` to the code that writes the dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from morphalign.data.dataset import write_dataset
from morphalign.errors import MorphalignError


def make_dataset(folder: str | Path, source: str, synthetic: dict[str, Any], val_size: int, val_seed: int) -> None:
    """Write the configured dataset into `folder`."""
    if source == "synthetic":
        from morphalign.data.synthetic import generate

        images, manifest = generate(
            n_train=int(synthetic["n_train"]),
            n_test=int(synthetic["n_test"]),
            seed=int(synthetic["seed"]),
            val_size=val_size,
            val_seed=val_seed,
            fr2_fraction=float(synthetic["fr2_fraction"]),
            point_rate=float(synthetic["point_rate"]),
        )
    else:
        raise MorphalignError(f"dataset.source: {source!r} is not a known data source")
    write_dataset(folder, images, manifest)
