"""MiraBest (FIRST radio galaxies, 150 x 150 px), both releases, loaded safely.

- `release: F` (current): the MiraBest_F archive from Jodrell Bank.
- `release: full` (the first release, Zenodo record 4288837), which the reference study used.

The archive is verified (md5) before it is opened; each batch inside is verified (md5) before it is unpickled; and
batches are unpickled with a restricted unpickler that admits only the numpy types the format needs, so a tampered
file is refused and nothing in it is executed. Batches are read straight from the archive: nothing is extracted.

Labels: classes 0..9 are the codes 100, 102, 104, 110, 112, 200, 201, 210, 300, 310 (digit 1: FR-I / FR-II /
hybrid; digit 2: confident / uncertain; digit 3: standard / double-double / wide-angle tail / head-tail).
By default Confident FR-I {0, 1, 2} -> 0 and Confident FR-II {5, 6} -> 1; Uncertain sources (FR-I {3, 4},
FR-II {7}) can be included; hybrids never are. `label_scheme: code` labels the same selection by class (0..9),
named by its 3-digit code, instead of FR-I / FR-II.
The original order is kept: training batches 1..N, then the test batch, each in file order.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morphalign.data.split import draw_validation
from morphalign.download import fetch, verify
from morphalign.errors import MorphalignError

CLASS_CODES = (100, 102, 104, 110, 112, 200, 201, 210, 300, 310)
CONFIDENT = {0: 0, 1: 0, 2: 0, 5: 1, 6: 1}
UNCERTAIN = {3: 0, 4: 0, 7: 1}
FR_NAMES = {0: "FR-I", 1: "FR-II"}
IMAGE_SIZE = 150


@dataclass(frozen=True)
class Release:
    """Where a MiraBest release lives and what its files must hash to."""

    name: str
    url: str
    filename: str
    md5: str
    folder: str  # folder inside the archive (members are also found by file name if the folder differs)
    train: tuple[tuple[str, str], ...]  # (batch file, md5), in order
    test: tuple[tuple[str, str], ...]


RELEASES: dict[str, Release] = {
    "F": Release(
        name="F",
        url="http://www.jb.man.ac.uk/research/MiraBest/MiraBest_F/MiraBest_F_batches.tar.gz",
        filename="MiraBest_F_batches.tar.gz",
        md5="7d4e3a623d29db7204bce81676ee8ce2",
        folder="F_batches",
        train=(
            ("data_batch_1", "f7a470b7367e8e0d0c5093d2cf266d54"),
            ("data_batch_2", "bb65ecd7e748e9fb789419b1efbf1bab"),
            ("data_batch_3", "32de1078e7cd47f5338c666a1b563ede"),
            ("data_batch_4", "a1209aceedd8806c88eab27ce45ee2c4"),
            ("data_batch_5", "1619cd7c54f5d71fcf4cfefea829728e"),
            ("data_batch_6", "636c2b84649286e19bcb0684fc9fbb01"),
            ("data_batch_7", "bc67bc37080dc4df880ffe9720d680a8"),
        ),
        test=(("test_batch", "ac7ea0d5ee8c7ab49f257c9964796953"),),
    ),
    # The first release (Zenodo record 4288837). URL and checksums from the dataset's public loader, class
    # MiraBest_full (fmporter/MiraBest-full, MiraBest_full.py), which the reference study's code copied.
    "full": Release(
        name="full",
        url="http://www.jb.man.ac.uk/research/MiraBest/full_dataset/MiraBest_full_batches.tar.gz",
        filename="MiraBest_full_batches.tar.gz",
        md5="965b5daa83b9d8622bb407d718eecb51",
        folder="MiraBest_full_dataset",
        train=(
            ("data_batch_1", "b15ae155301f316fc0b51af16b3c540d"),
            ("data_batch_2", "0bf52cc1b47da591ed64127bab6df49e"),
            ("data_batch_3", "98908045de6695c7b586d0bd90d78893"),
            ("data_batch_4", "ec9b9b77dc019710faf1ad23f1a58a60"),
            ("data_batch_5", "5190632a50830e5ec30de2973cc6b2e1"),
            ("data_batch_6", "b7113d89ddd33dd179bf64cb578be78e"),
            ("data_batch_7", "626c866b7610bfd08ac94ca3a17d02a1"),
        ),
        test=(("test_batch", "5e443302dbdf3c2003d68ff9ac95f08c"),),
    ),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only the globals a CIFAR-style batch of numpy arrays needs; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        from numpy._core import multiarray

        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy.core.multiarray", "scalar"): multiarray.scalar,
            ("numpy._core.multiarray", "scalar"): multiarray.scalar,
        }
        try:
            return allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a MiraBest batch") from None


def safe_unpickle(data: bytes, where: str) -> Any:
    """Unpickle a batch with the restricted unpickler; name the file in any error."""
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise MorphalignError(f"{where}: not a valid MiraBest batch ({exc})") from exc


def _read_member(tar: tarfile.TarFile, folder: str, name: str, archive: Path) -> tuple[str, bytes]:
    """Read one batch by its expected path, or by its file name under any single folder."""
    members = {m.name: m for m in tar.getmembers() if m.isfile()}
    path = f"{folder}/{name}"
    if path not in members:
        found = [p for p in members if p.rsplit("/", 1)[-1] == name]
        if len(found) != 1:
            raise MorphalignError(f"{archive}: archive has no member {path!r}")
        path = found[0]
    fh = tar.extractfile(members[path])
    if fh is None:
        raise MorphalignError(f"{archive}: member {path!r} is not a regular file")
    return path, fh.read()


def _batch_arrays(batch: Any, where: str) -> tuple[np.ndarray, list[int], list[str]]:
    if not isinstance(batch, dict) or not {"data", "labels", "filenames"} <= set(batch):
        raise MorphalignError(f"{where}: expected a dict with data, labels and filenames")
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8:
        raise MorphalignError(f"{where}: image data is {data.dtype}, expected uint8")
    data = data.reshape(len(data), IMAGE_SIZE, IMAGE_SIZE)
    labels = [int(v) for v in batch["labels"]]
    names = [str(f) for f in batch["filenames"]]
    if not len(data) == len(labels) == len(names):
        raise MorphalignError(f"{where}: {len(data)} images, {len(labels)} labels, {len(names)} file names")
    if any(not 0 <= v < len(CLASS_CODES) for v in labels):
        raise MorphalignError(f"{where}: labels outside 0..9")
    return data, labels, names


def read_batches(archive: str | Path, release: Release) -> list[tuple[str, str, np.ndarray, list[int], list[str]]]:
    """(split, batch, images, labels, filenames) for every batch, verified and safely unpickled, in order."""
    archive = Path(archive)
    verify(archive, md5=release.md5)
    raw = []  # every batch is read and verified before any is unpickled
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for split, batches in (("train", release.train), ("test", release.test)):
                for name, md5 in batches:
                    path, data = _read_member(tar, release.folder, name, archive)
                    actual = hashlib.md5(data).hexdigest()
                    if actual != md5:
                        raise MorphalignError(
                            f"{archive}:{path}: md5 checksum mismatch (expected {md5}, got {actual}); "
                            "no batch was unpickled"
                        )
                    raw.append((split, name, path, data))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise MorphalignError(f"{archive}: not a readable .tar.gz archive ({exc})") from exc
    return [
        (split, name, *_batch_arrays(safe_unpickle(data, f"{archive}:{path}"), path)) for split, name, path, data in raw
    ]


def paper_code_validation(n_pool: int, val_size: int, seed: int) -> np.ndarray:
    """The reference code's split: torch `random_split(pool, [n - val, val], generator=manual_seed(seed))`."""
    import torch

    perm = torch.randperm(n_pool, generator=torch.Generator().manual_seed(seed)).numpy()
    mask = np.zeros(n_pool, dtype=bool)
    mask[perm[n_pool - val_size :]] = True
    return mask


def build(
    archive: str | Path,
    release: Release,
    include_uncertain: bool = False,
    label_scheme: str = "fr",
    val_size: int = 100,
    val_seed: int = 42,
    val_method: str = "random",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Images and manifest (the shared dataset format) from a verified MiraBest archive."""
    if label_scheme not in ("fr", "code"):
        raise MorphalignError(f"dataset.mirabest.label_scheme must be 'fr' or 'code', got {label_scheme!r}")
    keep = {**CONFIDENT, **(UNCERTAIN if include_uncertain else {})}
    images, rows = [], []
    for split, batch, data, labels, names in read_batches(archive, release):
        for pos, (img, cls, fname) in enumerate(zip(data, labels, names, strict=True)):
            if cls not in keep:
                continue
            code = CLASS_CODES[cls]
            label = keep[cls] if label_scheme == "fr" else cls
            rows.append(
                {
                    "id": f"mb{release.name}-{batch}-{pos:03d}",
                    "label": label,
                    "label_name": FR_NAMES[label] if label_scheme == "fr" else str(code),
                    "split": split,
                    "source_file": Path(fname).name,
                    "class_code": code,
                    "confidence": "confident" if cls in CONFIDENT else ("uncertain" if cls in UNCERTAIN else "hybrid"),
                    "batch": batch,
                    "position": pos,
                    "release": release.name,
                }
            )
            images.append(img)
    manifest = pd.DataFrame(rows)
    pool = np.flatnonzero(manifest["split"].to_numpy() == "train")
    if val_method == "paper_code":
        mask = paper_code_validation(len(pool), val_size, val_seed)
    elif val_method == "random":
        mask = draw_validation(len(pool), val_size, val_seed)
    else:
        raise MorphalignError(f"dataset.mirabest.val_method must be 'random' or 'paper_code', got {val_method!r}")
    manifest.loc[pool[mask], "split"] = "val"
    return np.stack(images).astype(np.uint8), manifest


def fetch_archive(release: str, dest_dir: str | Path, mirrors: list[Path] | None) -> tuple[Path, Release]:
    """A verified local archive of a release: from the mirror, the download folder, or the network."""
    try:
        spec = RELEASES[release]
    except KeyError:
        raise MorphalignError(
            f"dataset.mirabest.release: {release!r} is unknown; expected one of {sorted(RELEASES)}"
        ) from None
    return fetch(spec.url, dest_dir, spec.filename, md5=spec.md5, mirrors=mirrors), spec
