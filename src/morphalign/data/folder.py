"""User-supplied image sets: a folder of PNG / JPEG / FITS images and a CSV of `file,label[,split]`.

Every row is checked before anything is written: a missing file, an unreadable image or an unknown label stops the
stage with an error naming the CSV row (1-based, counting the header as row 1, as a spreadsheet shows it).

Images are made the way MiraBest was built:

- FITS (through astropy): the first HDU with data, squeezed to 2-D; NaNs (blanked pixels) become the background;
  pixels below `clip_sigma` x the background rms (from an iterative sigma clip) are zeroed; then scaled to 0-255.
- 8-bit PNG / JPEG: converted to greyscale; no clipping.
- 16-bit or float PNG / TIFF: read at full depth, then clipped and scaled as FITS is (an 8-bit conversion would
  saturate them).
- Both are centre-cropped to `crop_size` (zero-padded if smaller), MiraBest's 150 px by default.

Labels are class names from the CSV, stripped of surrounding spaces; class ids follow the order of `classes` when
given (then any other name is an unknown label), else the sorted distinct names, of which there must be at least two.
A file listed twice, or the same image content in two splits (test leaking into training), is refused with both
rows named. Images of one constant value, and PNG / JPEG / TIFF images smaller than the crop, are counted in a
warning. Without a `split` column, `test_size` images are drawn as the test set; validation rows are always drawn
from the training rows.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.data.split import draw_validation
from morphalign.errors import MorphalignError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
DEEP_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}  # PIL modes of 16-bit and float images
FITS_SUFFIXES = {".fits", ".fit", ".fts", ".fits.gz"}


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fits.gz" if name.endswith(".fits.gz") else path.suffix.lower()


def sigma_clip_to_uint8(data: np.ndarray, clip_sigma: float, iters: int = 5) -> np.ndarray:
    """NaNs to background, zero pixels below clip_sigma x rms, scale to 0-255 (MiraBest's recipe)."""
    data = np.asarray(data, dtype=np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        raise ValueError("image has no finite pixels")
    vals = data[finite]
    mu, sd = float(np.median(vals)), float(np.std(vals))
    for _ in range(iters):
        keep = np.abs(vals - mu) < clip_sigma * max(sd, 1e-12)
        if keep.sum() < 2:
            break
        mu, sd = float(np.median(vals[keep])), float(np.std(vals[keep]))
    data = np.where(finite, data, mu)
    clipped = np.where(data >= mu + clip_sigma * sd, data - mu, 0.0)
    peak = clipped.max()
    return np.zeros(data.shape, np.uint8) if peak <= 0 else np.round(255 * clipped / peak).astype(np.uint8)


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    """Centre crop to size x size, zero-padding a smaller image."""
    out = np.zeros((size, size), dtype=img.dtype)
    h, w = img.shape
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    crop = img[top : top + size, left : left + size]
    oy, ox = (size - crop.shape[0]) // 2, (size - crop.shape[1]) // 2
    out[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
    return out


def read_image(path: Path, crop_size: int, clip_sigma: float) -> np.ndarray:
    """One image as crop_size x crop_size uint8."""
    suffix = _suffix(path)
    if suffix in FITS_SUFFIXES:
        from astropy.io import fits

        with fits.open(path, memmap=False) as hdul:
            data = next((h.data for h in hdul if getattr(h, "data", None) is not None), None)
        if data is None:
            raise ValueError("no HDU holds image data")
        data = np.squeeze(np.asarray(data))
        if data.ndim != 2:
            raise ValueError(f"image data has {data.ndim} dimensions after squeezing, expected 2")
        return sigma_clip_to_uint8(centre_crop(data.astype(np.float64), crop_size), clip_sigma)
    if suffix in IMAGE_SUFFIXES:
        from PIL import Image

        with Image.open(path) as im:
            if im.mode in DEEP_MODES:  # full depth, then scaled as FITS is
                deep = np.asarray(im, dtype=np.float64)
                return sigma_clip_to_uint8(centre_crop(deep, crop_size), clip_sigma)
            arr = np.asarray(im.convert("L"), dtype=np.uint8)
        return centre_crop(arr, crop_size)
    raise ValueError(f"unsupported image type {suffix!r} (PNG, JPEG, TIFF or FITS)")


def build(
    images_dir: str | Path,
    labels_csv: str | Path,
    crop_size: int = 150,
    clip_sigma: float = 3.0,
    classes: list[str] | None = None,
    test_size: int = 0,
    test_seed: int = 0,
    val_size: int = 0,
    val_seed: int = 42,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Images and manifest (the shared dataset format) from a folder and its CSV."""
    images_dir, labels_csv = Path(images_dir), Path(labels_csv)
    if not labels_csv.is_file():
        raise MorphalignError(f"{labels_csv}: labels CSV not found")
    try:
        table = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise MorphalignError(f"{labels_csv}: the file is empty (expected a header file,label[,split])") from None
    except pd.errors.ParserError as exc:
        raise MorphalignError(f"{labels_csv}: not a valid CSV ({str(exc).strip()})") from None
    table.columns = [c.strip() for c in table.columns]
    for col in ("file", "label"):
        if col not in table.columns:
            raise MorphalignError(f"{labels_csv}: missing column {col!r} (expected file,label[,split])")
    if table.empty:
        raise MorphalignError(f"{labels_csv}: no rows")
    for col in ("file", "label", "split"):
        if col in table.columns:
            table[col] = table[col].str.strip()
    names = classes or sorted(set(table["label"]))
    present = sorted(set(table["label"]))
    if len(present) < 2:
        raise MorphalignError(f"{labels_csv}: one class only ({present}); a classifier needs at least two")
    index = {n: i for i, n in enumerate(names)}
    twice = table["file"].duplicated(keep=False)
    if twice.any():
        rows = [
            i + 2 for i in np.flatnonzero(twice.to_numpy()) if table["file"].iloc[i] == table["file"][twice].iloc[0]
        ]
        raise MorphalignError(
            f"{labels_csv}: file {table['file'][twice].iloc[0]!r} is listed in rows {rows[0]} and {rows[1]}"
        )
    has_split = "split" in table.columns
    images, errors = [], []
    for i, row in table.iterrows():
        where = f"{labels_csv}: row {i + 2} ({row['file']!r})"
        if row["label"] not in index:
            errors.append(f"{where}: unknown label {row['label']!r}; classes are {names}")
            continue
        if has_split and row["split"] not in ("train", "val", "test"):
            errors.append(f"{where}: split {row['split']!r} is not train, val or test")
            continue
        path = images_dir / row["file"]
        if not path.is_file():
            errors.append(f"{where}: file not found ({path})")
            continue
        try:
            images.append(read_image(path, crop_size, clip_sigma))
        except Exception as exc:
            errors.append(f"{where}: unreadable image ({type(exc).__name__}: {exc})")
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise MorphalignError(errors[0] + more)
    labels = table["label"].map(index).to_numpy()
    manifest = pd.DataFrame(
        {
            "id": [f"img-{i:05d}" for i in range(len(table))],
            "label": labels,
            "label_name": table["label"].to_numpy(),
            "split": "train",
            "source_file": table["file"].to_numpy(),
        }
    )
    if has_split:
        manifest["split"] = table["split"].to_numpy()
    elif test_size:
        if not 0 < test_size < len(table):
            raise MorphalignError(f"dataset.folder.test_size={test_size} must be between 1 and {len(table) - 1}")
        rng = np.random.default_rng(test_seed)
        manifest.loc[rng.choice(len(table), size=test_size, replace=False), "split"] = "test"
    else:
        raise MorphalignError(f"{labels_csv}: no split column; set dataset.folder.test_size to draw a test set")
    if val_size and not (manifest["split"] == "val").any():
        pool = np.flatnonzero((manifest["split"] == "train").to_numpy())
        manifest.loc[pool[draw_validation(len(pool), val_size, val_seed)], "split"] = "val"
    stack = np.stack(images)
    _refuse_leaks(stack, manifest, labels_csv)
    _warn_odd_images(stack, table, images_dir, crop_size, labels_csv)
    return stack, manifest


def _refuse_leaks(images: np.ndarray, manifest: pd.DataFrame, labels_csv: Path) -> None:
    """The same image content in two splits would put test images into training."""
    first: dict[bytes, int] = {}
    for i, img in enumerate(images):
        key = hashlib.sha256(img.tobytes()).digest()
        j = first.setdefault(key, i)
        if j != i and manifest["split"].iloc[j] != manifest["split"].iloc[i]:
            raise MorphalignError(
                f"{labels_csv}: rows {j + 2} ({manifest['source_file'].iloc[j]!r}, {manifest['split'].iloc[j]}) and "
                f"{i + 2} ({manifest['source_file'].iloc[i]!r}, {manifest['split'].iloc[i]}) hold the same image "
                "in two splits"
            )


def _warn_odd_images(images: np.ndarray, table: pd.DataFrame, images_dir: Path, crop: int, labels_csv: Path) -> None:
    """Count images that were padded to the crop, or are one constant value, in a warning (they are kept)."""
    from PIL import Image

    small = []
    for i, name in enumerate(table["file"]):
        if _suffix(images_dir / name) in IMAGE_SUFFIXES:
            with Image.open(images_dir / name) as im:
                w, h = im.size
        else:
            continue  # FITS shapes were checked when read
        if w < crop or h < crop:
            small.append(i + 2)
    constant = [i + 2 for i, img in enumerate(images) if img.min() == img.max()]
    for what, rows in ((f"smaller than the {crop} px crop (zero-padded)", small), ("of one constant value", constant)):
        if rows:
            shown = ", ".join(map(str, rows[:5])) + (" ..." if len(rows) > 5 else "")
            warnings.warn(f"{labels_csv}: {len(rows)} image(s) {what}: rows {shown}", stacklevel=2)
