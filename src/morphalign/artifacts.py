"""The on-disk formats that pass between stages: readers and writers, with their checks.

A stage reads another stage's output only through this module, never through the other stage's code.

**Dataset** (written by `data`, read by every later stage). One folder holding

- `images.npy`: uint8 array, N x H x W (MiraBest: 150 x 150), loaded without pickle;
- `manifest.csv`: one row per image, in the same order, with at least `id, label, label_name, split`
  (`split` is `train`, `val` or `test`) plus any source-specific metadata columns.

`val` rows are drawn from the training pool; models train on `train`, stop early on `val`, and evaluation
fits probes on `train` + `val` (the whole training pool) and scores on `test`.

**Captions table** (`captions` -> `cache`, `report`): a CSV with `id, prompt, caption, backend, model, created`.

**Stage caches** (`cache` -> `train`, `embed`): `pixels.npy` (uint8 images resized to the model's resolution) and
`tokens/{prompt}.npz` (`input_ids`, `truncated`, `lengths`), row i of each being dataset row i.

**Pretraining report** (`pretrain` -> `report`): `PRETRAIN_REPORT_FILE` (JSON) inside the tiny model's folder.

**Embeddings** (`embed` -> `evaluate`, `report`): an `.npz` with float arrays `train_image, train_text, test_image,
test_text`, int arrays `train_label, test_label` and the row ids `train_id, test_id`; row i of an image array pairs
with row i of the text array; "train" is the whole training pool.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.errors import MorphalignError
from morphalign.io import atomic_path, save_npy, save_npz

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


PRETRAIN_REPORT_FILE = "pretrain_report.json"

# ---- captions table ----

CAPTION_COLUMNS = ("id", "prompt", "caption", "backend", "model", "created")


def check_captions(table: pd.DataFrame, where: str) -> None:
    """Fail naming the row if a caption is missing or blank, or a column is absent."""
    missing = [c for c in CAPTION_COLUMNS if c not in table.columns]
    if missing:
        raise MorphalignError(f"{where}: captions table lacks column(s) {missing}")
    blank = table["caption"].isna() | (table["caption"].astype(str).str.strip() == "")
    if blank.any():
        i = int(blank.to_numpy().nonzero()[0][0])
        raise MorphalignError(
            f"{where}: empty caption for id {table['id'].iloc[i]!r} (row {i}, prompt {table['prompt'].iloc[i]!r})"
        )


def load_captions(path: str | Path, ids: list[str]) -> list[str]:
    """Read a captions table and return captions in the order of `ids`, failing on gaps or blanks."""
    path = Path(path)
    if not path.is_file():
        raise MorphalignError(f"{path}: captions table not found")
    table = pd.read_csv(path, dtype={"id": str, "caption": str}, keep_default_na=False)
    table["caption"] = table["caption"].replace("", None)
    check_captions(table, str(path))
    by_id = dict(zip(table["id"], table["caption"], strict=True))
    absent = [i for i in ids if i not in by_id]
    if absent:
        raise MorphalignError(f"{path}: no caption for {len(absent)} image(s), first {absent[0]!r}")
    return [by_id[i] for i in ids]


# ---- stage caches ----


def load_caches(pixels_path: str | Path, tokens_path: str | Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Load the resized-image and token caches, checking they cover the dataset's n rows."""
    return load_rows(pixels_path, n), load_rows(tokens_path, n, "input_ids")


def load_rows(path: str | Path, n: int, key: str | None = None) -> np.ndarray:
    """One per-row cache array (a .npy, or `key` of a .npz), checked to cover the dataset's n rows."""
    if key is None:
        arr = np.load(path, allow_pickle=False)
    else:
        with np.load(path, allow_pickle=False) as z:
            arr = z[key]
    if len(arr) != n:
        raise MorphalignError(f"{path}: the cache holds {len(arr)} rows but the dataset has {n}")
    return arr


# ---- embeddings ----

EMBEDDING_ARRAYS = ("train_image", "train_text", "test_image", "test_text", "train_label", "test_label")
# optional: train_id, test_id (row ids); class_text (C x d, the ensembled class prompts) and class_names


def check_embeddings(arrays: dict[str, np.ndarray], where: str) -> None:
    """Fail naming the array when an embeddings file is incomplete or inconsistent."""
    missing = [k for k in EMBEDDING_ARRAYS if k not in arrays]
    if missing:
        raise MorphalignError(f"{where}: missing array(s) {missing}")
    for split in ("train", "test"):
        n = len(arrays[f"{split}_label"])
        for kind in ("image", "text"):
            a = arrays[f"{split}_{kind}"]
            if a.ndim != 2 or len(a) != n:
                raise MorphalignError(f"{where}: {split}_{kind} has shape {a.shape}, expected ({n}, d)")
            if not np.all(np.isfinite(a)):
                raise MorphalignError(f"{where}: {split}_{kind} holds non-finite values")
    if len(arrays["test_label"]) < 2:
        raise MorphalignError(f"{where}: need at least 2 test rows")
    if "class_text" in arrays:  # optional: one ensembled class-prompt embedding per class, for zero-shot
        c, d = arrays["class_text"].shape if arrays["class_text"].ndim == 2 else (0, 0)
        if d != arrays["test_text"].shape[1] or c <= int(arrays["test_label"].max()):
            raise MorphalignError(
                f"{where}: class_text has shape {arrays['class_text'].shape}, expected one row per class "
                f"(at least {int(arrays['test_label'].max()) + 1}) of width {arrays['test_text'].shape[1]}"
            )


def save_embeddings(path: str | Path, **arrays: np.ndarray) -> None:
    """Check and write an embeddings file atomically."""
    check_embeddings(arrays, str(path))
    save_npz(path, **arrays)


def load_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """Read and check an embeddings file, naming it in any error."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError as exc:
        raise MorphalignError(f"{path}: file not found") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise MorphalignError(f"{path}: not a readable .npz ({exc})") from exc
    check_embeddings(arrays, str(path))
    return arrays


# ---- content identity ----


def content_hash(*paths: str | Path) -> str:
    """sha256 (first 16 hex digits) over the bytes of files, in order: what the data is, wherever it lives."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()[:16]
