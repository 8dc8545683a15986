"""The on-disk dataset format shared by every data source.

A dataset is one folder holding

- `images.npy`: uint8 array, N x H x W (MiraBest: 150 x 150), loaded without pickle;
- `manifest.csv`: one row per image, in the same order, with at least `id, label, label_name, split`
  (`split` is `train`, `val` or `test`) plus any source-specific metadata columns.

`val` rows are drawn from the training pool; models train on `train`, stop early on `val`, and evaluation
fits probes on `train` + `val` (the whole training pool) and scores on `test`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.errors import MorphalignError
from morphalign.io import atomic_path, save_npy

REQUIRED_COLUMNS = ("id", "label", "label_name", "split")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """Images and their manifest, row i of one matching row i of the other."""

    images: np.ndarray
    manifest: pd.DataFrame

    def split_index(self, split: str) -> np.ndarray:
        """Row positions of one split, in dataset order."""
        return np.flatnonzero(self.manifest["split"].to_numpy() == split)

    def pool_index(self) -> np.ndarray:
        """Row positions of the whole training pool (train + val), in dataset order."""
        return np.flatnonzero(self.manifest["split"].isin(["train", "val"]).to_numpy())


def draw_validation(n_pool: int, val_size: int, seed: int) -> np.ndarray:
    """Boolean mask over the training pool marking `val_size` rows drawn with `seed`."""
    if not 0 <= val_size < n_pool:
        raise MorphalignError(f"dataset.val_size={val_size} must be at least 0 and below the training pool ({n_pool})")
    rng = np.random.default_rng(seed)
    mask = np.zeros(n_pool, dtype=bool)
    mask[rng.choice(n_pool, size=val_size, replace=False)] = True
    return mask


def validate_manifest(manifest: pd.DataFrame, n_images: int, where: str) -> None:
    """Raise a MorphalignError naming `where` if the manifest does not fit the format."""
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.columns]
    if missing:
        raise MorphalignError(f"{where}: manifest lacks required column(s) {missing}")
    if len(manifest) != n_images:
        raise MorphalignError(f"{where}: manifest has {len(manifest)} rows but images.npy holds {n_images} images")
    bad = ~manifest["split"].isin(SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise MorphalignError(f"{where}: row {row} has split {manifest['split'].iloc[row]!r}; expected one of {SPLITS}")
    dup = manifest["id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise MorphalignError(f"{where}: id {manifest['id'].iloc[row]!r} repeats at row {row}")
    for split in ("train", "test"):
        if not (manifest["split"] == split).any():
            raise MorphalignError(f"{where}: no rows in split {split!r}")


def write_dataset(folder: str | Path, images: np.ndarray, manifest: pd.DataFrame) -> None:
    """Validate and write a dataset folder; each file is replaced atomically."""
    folder = Path(folder)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise MorphalignError(f"{folder}: images must be uint8 N x H x W, got {images.dtype} {images.shape}")
    validate_manifest(manifest, len(images), str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    save_npy(folder / "images.npy", images)
    with atomic_path(folder / "manifest.csv") as tmp:
        manifest.to_csv(tmp, index=False)


def load_dataset(folder: str | Path) -> Dataset:
    """Load and check a dataset folder; every failure names the file at fault."""
    folder = Path(folder)
    img_path, man_path = folder / "images.npy", folder / "manifest.csv"
    for p in (img_path, man_path):
        if not p.is_file():
            raise MorphalignError(f"{p}: file not found")
    try:
        images = np.load(img_path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise MorphalignError(f"{img_path}: not a readable .npy array ({exc})") from exc
    if images.dtype != np.uint8 or images.ndim != 3:
        raise MorphalignError(f"{img_path}: expected uint8 N x H x W images, got {images.dtype} {images.shape}")
    try:
        manifest = pd.read_csv(man_path, dtype={"id": str, "split": str, "label_name": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MorphalignError(f"{man_path}: not a readable CSV ({exc})") from exc
    validate_manifest(manifest, len(images), str(man_path))
    return Dataset(images=images, manifest=manifest)
