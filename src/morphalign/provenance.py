"""Provenance: a hash of the code a job runs, found from the import graph, and the versions of the libraries.

The workflow passes `code_hash(...)` of what a rule runs as a rule `params:` entry, because Snakemake does not track
the Python modules a job imports. The hash covers the entry modules and everything they import inside `morphalign`
(at any depth, lazy imports inside functions included, with the `__init__` of every package on the way), resolved
mechanically from the source, so no module list is kept by hand. Each module is hashed as its syntax tree with
docstrings removed, so comments, docstrings and formatting change nothing, and code does.

Every `snakemake` call (a dry run, and on a cluster every job) hashes the closures of the workflow's entry points
again. What a file contributes, its syntax-tree digest and its import statements, depends on its bytes alone, so it
is kept on disk (`$XDG_CACHE_HOME/morphalign`, else `~/.cache/morphalign`) under the sha256 of those bytes and the
Python version: reading and hashing the files is all a later call does (1.2 s of a 2.7 s dry run of the default
without it). `MORPHALIGN_CODE_CACHE=0` turns it off; a cache that cannot be read or written is skipped.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGE = "morphalign"
PACKAGE_DIR = Path(__file__).resolve().parent


def module_file(name: str, root: Path = PACKAGE_DIR) -> Path | None:
    """The source file of `morphalign.x.y` (a package's `__init__.py`), or None when there is no such module."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _package_of(name: str, file: Path) -> str:
    return name if file.name == "__init__.py" else name.rpartition(".")[0]


# an import statement as the source writes it: (module or None, relative level, imported names); level -1 marks
# `import a, b`, whose names are modules
ImportStatement = tuple[str | None, int, tuple[str, ...]]


def _import_statements(tree: ast.AST) -> list[ImportStatement]:
    """Every import statement of a module's source, at any nesting (lazy imports inside functions included)."""
    found: list[ImportStatement] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.append((None, -1, tuple(a.name for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module, node.level, tuple(a.name for a in node.names)))
    return found


def _resolved(statements: Iterable[ImportStatement], name: str, file: Path, root: Path) -> set[str]:
    """The `morphalign` modules those statements import (absolute or relative), for module `name` at `file`."""
    found: set[str] = set()
    for module, level, names in statements:
        if level < 0:
            found.update(names)
            continue
        if level:
            base = _package_of(name, file).split(".")
            base = base[: len(base) - level + 1]
            mod = ".".join([*base, module] if module else base)
        else:
            mod = module or ""
        found.add(mod)
        found.update(f"{mod}.{a}" for a in names)  # `from pkg import submodule`
    return {m for m in found if module_file(m, root) is not None}


def _with_parents(name: str) -> list[str]:
    """A module and the packages whose `__init__` importing it runs: morphalign, morphalign.x, morphalign.x.y."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _imports_of(file: Path, name: str, root: Path) -> set[str]:
    """Every `morphalign` module that a package module imports, from its file's facts (see `_facts`)."""
    return _resolved(_facts(file)[1], name, file, root)


def _digest_of(tree: ast.AST) -> str:
    """sha256 of a syntax tree without docstrings (the tree is edited), comments, formatting or line numbers."""
    tree = _strip_docstrings(tree)
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


class _FactCache:
    """What each source file contributes to a code hash, on disk, by the sha256 of its bytes (see the docstring)."""

    VERSION = 1  # raise when what is stored, or how it is computed, changes
    MAX_ENTRIES = 4096  # a few versions of every module; the oldest go first

    def __init__(self) -> None:
        self.entries: dict[str, list] | None = None
        self.dirty = False

    @staticmethod
    def path() -> Path | None:
        if os.environ.get("MORPHALIGN_CODE_CACHE", "1") == "0":
            return None
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "morphalign" / f"code-facts-v{_FactCache.VERSION}-py{platform.python_version()}.json"

    def load(self) -> dict[str, list]:
        if self.entries is None:
            self.entries = {}
            path = self.path()
            try:
                if path is not None and path.is_file():
                    loaded = json.loads(path.read_text())
                    self.entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):  # unreadable or torn: recomputed, then rewritten
                self.entries = {}
        return self.entries

    def save(self) -> None:
        path = self.path()
        if not self.dirty or path is None or self.entries is None:
            return
        self.dirty = False
        entries = dict(list(self.entries.items())[-self.MAX_ENTRIES :])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            with os.fdopen(fd, "w") as out:
                json.dump(entries, out)
            os.replace(tmp, path)  # whole or not at all; of two writers at once, the last wins
        except OSError:
            pass


_CACHE = _FactCache()


@functools.lru_cache(maxsize=1024)
def _facts_cached(file: Path, mtime_ns: int, size: int) -> tuple[str, list[ImportStatement]]:
    source = file.read_bytes()
    key = hashlib.sha256(source).hexdigest()
    entries = _CACHE.load()
    hit = entries.get(key)
    if isinstance(hit, list) and len(hit) == 2:
        digest, statements = hit
        return digest, [(m, level, tuple(names)) for m, level, names in statements]
    tree = ast.parse(source, filename=str(file))
    statements = _import_statements(tree)
    digest = _digest_of(tree)
    entries[key] = [digest, statements]
    _CACHE.dirty = True
    return digest, statements


def _facts(file: Path) -> tuple[str, list[ImportStatement]]:
    """A file's syntax-tree digest and import statements: once per version of it in a process, from the disk cache
    when its bytes were seen before."""
    stat = file.stat()
    return _facts_cached(file, stat.st_mtime_ns, stat.st_size)


def closure(entries: Iterable[str], root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """The modules `entries` run, by name: themselves, what they import inside morphalign, transitively.

    An entry is a module name (`morphalign.embed`), a package run with `-m` (its `__main__` is included), or the
    path of a script outside the package (`workflow/scripts/x.py`), whose own imports start the walk.
    """
    todo: list[str] = []
    for entry in entries:
        if entry.endswith(".py"):
            script = Path(entry)
            todo.extend(_resolved(_facts(script.resolve())[1], "__script__", script, root))
            continue
        if module_file(entry, root) is None:
            raise ValueError(f"code_hash: {entry!r} is not a module of {PACKAGE}")
        todo.append(entry)
        if module_file(f"{entry}.__main__", root) is not None:
            todo.append(f"{entry}.__main__")
    seen: dict[str, Path] = {}
    while todo:
        for name in _with_parents(todo.pop()):
            if name in seen:
                continue
            file = module_file(name, root)
            if file is None:  # pragma: no cover - parents of a module always exist
                raise ValueError(f"code_hash: no source for {name!r}")
            seen[name] = file
            todo.extend(_imports_of(file, name, root))
    return dict(sorted(seen.items()))


def ast_digest(file: Path) -> str:
    """sha256 of a module's syntax tree without docstrings, comments, formatting or line numbers."""
    return _facts(file)[0]


def code_hash(*entries: str, root: Path = PACKAGE_DIR) -> str:
    """sha256 (first 16 hex digits) over the syntax trees of everything `entries` run (see `closure`)."""
    h = hashlib.sha256()
    for name, file in closure(entries, root).items():
        h.update(name.encode() + b"\0" + ast_digest(file).encode() + b"\n")
    _CACHE.save()
    return h.hexdigest()[:16]


def content_hash(*files: str | Path) -> str:
    """sha256 (first 16 hex digits) over the names and bytes of data files a job reads from the checkout.

    For a rule's `params:` in place of their paths: a checkout moved to another folder then reruns nothing, and an
    edit to a file reruns what reads it.
    """
    h = hashlib.sha256()
    for file in map(Path, files):
        h.update(file.name.encode() + b"\0" + hashlib.sha256(file.read_bytes()).hexdigest().encode() + b"\n")
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
