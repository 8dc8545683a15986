"""Provenance: a hash of the code a job runs, found from the import graph, and the versions of the libraries.

The workflow passes `code_hash(...)` of what a rule runs as a rule `params:` entry, because Snakemake does not track
the Python modules a job imports. The hash covers the entry modules and everything they import inside `morphalign`
(at any depth, lazy imports inside functions included, with the `__init__` of every package on the way), resolved
mechanically from the source, so no module list is kept by hand. Each module is hashed as its syntax tree with
docstrings removed, so comments, docstrings and formatting change nothing, and code does.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import platform
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


def _imported(tree: ast.AST, name: str, file: Path, root: Path) -> set[str]:
    """Every `morphalign` module that a module's source imports (absolute or relative, at any nesting)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(name, file).split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import submodule`
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
    """`_imported` of a package module, once per version of its file."""
    stat = file.stat()
    return _imports_cached(file, stat.st_mtime_ns, stat.st_size, name, root)


@functools.lru_cache(maxsize=512)
def _imports_cached(file: Path, mtime_ns: int, size: int, name: str, root: Path) -> set[str]:
    return _imported(_parsed(file), name, file, root)


def _parsed(file: Path) -> ast.Module:
    stat = file.stat()
    return _parse_cached(file, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _parse_cached(file: Path, mtime_ns: int, size: int) -> ast.Module:
    """Parsed once per version of a file (a workflow hashes the same modules for many rules)."""
    return ast.parse(file.read_text(), filename=str(file))


def closure(entries: Iterable[str], root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """The modules `entries` run, by name: themselves, what they import inside morphalign, transitively.

    An entry is a module name (`morphalign.embed`), a package run with `-m` (its `__main__` is included), or the
    path of a script outside the package (`workflow/scripts/x.py`), whose own imports start the walk.
    """
    todo: list[str] = []
    for entry in entries:
        if entry.endswith(".py"):
            script = Path(entry)
            todo.extend(_imported(_parsed(script.resolve()), "__script__", script, root))
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
    stat = file.stat()
    return _digest_cached(file, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _digest_cached(file: Path, mtime_ns: int, size: int) -> str:
    """Once per version of a file: the workflow hashes the closures of 26 entry points, which share most modules."""
    tree = _strip_docstrings(ast.parse(file.read_text(), filename=str(file)))  # a fresh tree: this one is edited
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def code_hash(*entries: str, root: Path = PACKAGE_DIR) -> str:
    """sha256 (first 16 hex digits) over the syntax trees of everything `entries` run (see `closure`)."""
    h = hashlib.sha256()
    for name, file in closure(entries, root).items():
        h.update(name.encode() + b"\0" + ast_digest(file).encode() + b"\n")
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
