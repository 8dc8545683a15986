"""Checksum-verified downloads with resume, and a local mirror for machines without internet.

`fetch()` looks a file up, in order:

1. in the mirror folders (`MORPHALIGN_DATA_MIRROR`, or the config's `data_mirror`; several folders are separated by
   `:`), by file name: a file found there is verified and used in place, and nothing is downloaded (compute nodes
   without internet, tests, CI); a copy that fails its checksum is skipped with a warning, and the next folder tried;
2. in the download folder, when a verified copy is already there;
3. on the network: streamed to `<name>.part` with a progress bar, resumed with an HTTP Range request after an
   interruption (or restarted cleanly when the server ignores ranges), verified, then renamed into place.

A checksum mismatch is an error that names the file and both digests; a bad download is deleted. When the download
fails, the error lists the folders that were searched and any corrupt copies skipped.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from morphalign.errors import MorphalignError

MIRROR_ENV = "MORPHALIGN_DATA_MIRROR"
CHUNK = 1 << 16
TIMEOUT_S = 60  # per socket operation; a stalled server fails instead of hanging a cluster job


def digest(path: str | Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: str | Path, md5: str | None = None, sha256: str | None = None) -> None:
    """Raise naming the file when its md5 or sha256 differs from the expected value."""
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        actual = digest(path, algorithm)
        if actual != expected.lower():
            raise MorphalignError(
                f"{path}: {algorithm} checksum mismatch (expected {expected}, got {actual}); "
                "the file is corrupt, truncated or not the published one"
            )


def mirror_dirs(config_mirror: str | None = None) -> list[Path]:
    """The mirror folders: the environment variable wins over the config key; `:` separates several."""
    value = os.environ.get(MIRROR_ENV) or config_mirror or ""
    return [Path(v).expanduser() for v in value.split(os.pathsep) if v]


def _download(url: str, part: Path, progress: bool) -> None:
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range past the end: start again
            part.unlink()
            return _download(url, part, progress)
        raise MorphalignError(f"{url}: download failed with HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise MorphalignError(f"{url}: download failed ({exc})") from exc
    with resp:
        resumed = have and resp.status == 206
        mode = "ab" if resumed else "wb"  # a server that ignores Range sends the whole file: restart
        length = resp.headers.get("Content-Length")
        total = (int(length) + (have if resumed else 0)) if length else None
        with (
            open(part, mode) as fh,
            tqdm(
                total=total,
                initial=have if resumed else 0,
                unit="B",
                unit_scale=True,
                desc=part.name.removesuffix(".part"),
                disable=not progress,
                file=sys.stderr,
                mininterval=2,
            ) as bar,
        ):
            try:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    fh.write(block)
                    bar.update(len(block))
            except (OSError, urllib.error.URLError) as exc:
                raise MorphalignError(f"{url}: download interrupted ({exc}); rerun to resume") from exc
    if total is not None and part.stat().st_size != total:
        raise MorphalignError(f"{url}: download ended early ({part.stat().st_size} of {total} bytes); rerun to resume")


def fetch(
    url: str,
    dest_dir: str | Path,
    filename: str | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    mirrors: list[Path] | None = None,
    progress: bool = True,
) -> Path:
    """Return a verified local copy of `url` (see the module docstring for the lookup order)."""
    name = filename or url.rsplit("/", 1)[-1]
    corrupt = []
    for folder in mirrors or []:
        candidate = Path(folder) / name
        if candidate.is_file():
            try:
                verify(candidate, md5, sha256)
            except MorphalignError as exc:  # a bad copy in one mirror must not hide a good one in the next
                warnings.warn(f"{exc}; skipped, looking in the next place", stacklevel=2)
                corrupt.append(str(candidate))
                continue
            return candidate
    dest_dir = Path(dest_dir)
    dest = dest_dir / name
    if dest.is_file():
        try:
            verify(dest, md5, sha256)
            return dest
        except MorphalignError:
            dest.unlink()  # a stale or damaged copy: fetch it again
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(name + ".part")
    try:
        _download(url, part, progress)
    except MorphalignError as exc:
        searched = [str(Path(f)) for f in mirrors or []]
        where = f"mirror folder(s) {searched}" if searched else f"no mirror folder (set {MIRROR_ENV} or data_mirror)"
        bad = f"; corrupt copies skipped: {corrupt}" if corrupt else ""
        raise MorphalignError(f"{exc}. {name!r} was looked for in {where} and in {dest_dir}{bad}") from exc
    try:
        verify(part, md5, sha256)
    except MorphalignError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest
