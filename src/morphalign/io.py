"""Atomic file output and small JSON/YAML helpers.

Every result is written to a temporary sibling and renamed into place, so a killed job never leaves a file that
looks complete (Snakemake would otherwise take a half-written `metrics.json` as done). The result gets the mode
any new file gets under the umask, not the temporary file's private 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from morphalign.errors import MorphalignError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    With `directory=True` the temporary path is an empty folder and the whole folder is swapped in.
    """
    final = Path(path)
    prefix = f".{final.name}.tmp-"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
            tmp.chmod(0o777 & ~umask())  # mkdtemp makes 0700; a result folder gets the mode any folder would
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, dir=final.parent)
            os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes 0600; colleagues on a shared cluster read results
            os.close(fd)
            tmp = Path(name)
    except OSError as exc:
        raise _write_error(final, exc) from exc
    try:
        yield tmp
        if directory:
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        else:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
    except BaseException as exc:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, a read-only folder: say which file, not only the byte counts
            raise _write_error(final, exc) from exc
        raise


def umask() -> int:
    """The process's umask, read without changing it where Linux allows (`os.umask` sets it to read it)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("Umask:")).split()[1], 8)
    current = os.umask(0o022)
    os.umask(current)
    return current


def _write_error(final: Path, exc: OSError) -> MorphalignError:
    return MorphalignError(
        f"{final}: could not be written ({exc}); is the disk full or the folder read-only? Nothing was left in "
        "its place"
    )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, naming the file in the error if it is missing or malformed."""
    from morphalign.errors import MorphalignError

    p = Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise MorphalignError(f"{p}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise MorphalignError(f"{p}: not valid JSON ({exc})") from exc


def write_csv(path: str | os.PathLike[str], frame: Any) -> None:
    """Write a pandas DataFrame as CSV, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed .npz, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write one array to .npy, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
