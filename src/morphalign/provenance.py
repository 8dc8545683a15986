"""Provenance: versions of the code and the libraries, and a hash of the package source.

The workflow passes `code_hash(...)` of the modules a rule runs as a rule `params:` entry, so editing the package
reruns exactly the rules whose code changed (Snakemake does not track imported modules itself).
"""

from __future__ import annotations

import hashlib
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def code_hash(*parts: str) -> str:
    """sha256 (first 16 hex digits) over the source of the named modules or subpackages of morphalign.

    `parts` are paths relative to the package, without `.py` for modules: `"train"`, `"model"`, `"captions"`.
    Always includes the shared helpers (`io`, `errors`).
    """
    files: list[Path] = []
    for part in sorted({*parts, "io", "errors"}):
        target = PACKAGE_DIR / part
        if target.is_dir():
            files.extend(sorted(target.rglob("*.py")))
        elif target.with_suffix(".py").is_file():
            files.append(target.with_suffix(".py"))
        else:
            raise ValueError(f"code_hash: morphalign has no module or package {part!r}")
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(PACKAGE_DIR)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    """Versions of the package and the libraries that determine results."""
    from morphalign import __version__

    return {
        "morphalign": __version__,
        "python": platform.python_version(),
        **{name: _version(name) for name in ("torch", "transformers", "peft", "accelerate", "scikit-learn", "numpy")},
    }
