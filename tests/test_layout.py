"""The package layout: one package per stage over a small core, and a stage never imports another stage.

- core modules (`CORE`) import only the core;
- shared packages (`model`: the SigLIP model, for every stage that runs it; `gemini`: the Gemini client, for the
  stages that ask it something) import the core and themselves;
- a stage package imports the core, the shared packages and itself, never another stage;
- every rule file names a stage package, and every stage package has a rule file (`model` is shared, not a stage).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO
from morphalign.provenance import PACKAGE_DIR, module_file

CORE = {
    *("errors", "io", "scripting", "provenance", "runs", "artifacts", "config", "download", "vectors", "sky", "words"),
    *("scores", "text"),
}
SHARED = {"model", "gemini"}
STAGES = {"pretrain", "data", "captions", "classify", "cache", "train", "embed", "evaluate", "report"}
SUPPORT = {"testing", "cluster"}  # test doubles (the fake Gemini server) and cluster set-up: import the core only


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out[".".join(["morphalign", *parts])] = path
    return out


def _group(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, name: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            else:
                found.add(node.module or "")
    return {m for m in found if m.split(".")[0] == "morphalign"}


def test_every_module_has_a_place():
    groups = {_group(n) for n in _modules()}
    assert groups <= CORE | SHARED | STAGES | SUPPORT | {"__init__"}, groups - (CORE | SHARED | STAGES | SUPPORT)


@pytest.mark.parametrize("name,path", sorted(_modules().items()), ids=lambda x: x if isinstance(x, str) else "")
def test_import_contract(name, path):
    mine = _group(name)
    for imported in _imports(path, name):
        theirs = _group(imported)
        assert module_file(imported) is not None or module_file(imported.rpartition(".")[0]) is not None, imported
        if theirs == "__init__" or theirs == mine:
            continue
        if mine in CORE or mine in SUPPORT:
            assert theirs in CORE, f"{name} (core) imports {imported}"
        elif mine in SHARED:
            assert theirs in CORE, f"{name} ({mine}) imports {imported}: a shared package sits on the core only"
        else:
            assert theirs in CORE | SHARED, f"stage {name} imports another stage: {imported}"


def test_rule_files_name_their_stage_packages():
    rules = {p.stem for p in (REPO / "workflow" / "rules").glob("*.smk")} - {"common"}
    assert rules == STAGES
    for stage in STAGES | SHARED:
        assert (PACKAGE_DIR / stage / "__init__.py").is_file(), stage
