"""Code hashes from the import graph: what a job runs is found mechanically, and only real code changes count."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO
from morphalign import provenance


@pytest.fixture
def pkg(tmp_path) -> Path:
    """A copy of the package to edit."""
    root = tmp_path / "morphalign"
    shutil.copytree(provenance.PACKAGE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_comments_docstrings_and_formatting_change_nothing(pkg):
    before = provenance.code_hash("morphalign.train", root=pkg)
    loop = pkg / "train" / "loop.py"
    loop.write_text("# a comment at the top\n" + loop.read_text() + "\n\n# and one at the end\n")
    _edit(loop, '"""Mean sigmoid loss over the validation rows', '"""Reworded: the mean sigmoid loss over the rows')
    _edit(loop, "    total, count = 0.0, 0\n", "    total, count = (\n        0.0,\n        0,\n    )  # formatted\n")
    assert provenance.code_hash("morphalign.train", root=pkg) == before


def test_code_changes_count_in_the_modules_that_import_them(pkg):
    train, evaluate, embed = (
        provenance.code_hash(m, root=pkg) for m in ("morphalign.train", "morphalign.evaluate", "morphalign.embed")
    )
    _edit(pkg / "train" / "loop.py", "    total, count = 0.0, 0\n", "    total, count = 0.0, 0\n    assert bs > 0\n")
    assert provenance.code_hash("morphalign.train", root=pkg) != train
    assert provenance.code_hash("morphalign.evaluate", root=pkg) == evaluate  # other stages are not rerun
    assert provenance.code_hash("morphalign.embed", root=pkg) == embed
    _edit(pkg / "model" / "adapter.py", "LOGIT_PARAMS_FILE = ", "UNUSED = 1\nLOGIT_PARAMS_FILE = ")
    assert provenance.code_hash("morphalign.embed", root=pkg) != embed  # a shared module reruns its users
    assert provenance.code_hash("morphalign.evaluate", root=pkg) == evaluate


def test_closure_follows_lazy_relative_and_package_imports(pkg):
    (pkg / "evaluate" / "extra.py").write_text("X = 1\n")
    (pkg / "evaluate" / "lazy.py").write_text("def f():\n    from . import extra\n    return extra.X\n")
    _edit(
        pkg / "evaluate" / "metrics.py",
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nfrom morphalign.evaluate import lazy\n",
    )
    names = provenance.closure(["morphalign.evaluate"], root=pkg)
    assert {"morphalign", "morphalign.evaluate", "morphalign.evaluate.__main__", "morphalign.evaluate.metrics"} <= set(
        names
    )
    assert {
        "morphalign.evaluate.lazy",
        "morphalign.evaluate.extra",
        "morphalign.artifacts",
        "morphalign.vectors",
    } <= set(names)
    assert not any(n.startswith(("morphalign.train", "morphalign.captions", "morphalign.data")) for n in names)


def test_scripts_are_entries_through_their_imports():
    names = provenance.closure([str(REPO / "workflow" / "scripts" / "pixel_cache.py")])
    assert "morphalign.cache.build" in names and "morphalign.model.load" in names
    assert not any(n.startswith(("morphalign.train", "morphalign.evaluate")) for n in names)


def test_launch_is_in_the_finetune_hash(pkg):
    both = provenance.code_hash("morphalign.train.launch", "morphalign.train", root=pkg)
    _edit(pkg / "train" / "launch.py", '"--dynamo_backend",', '"--dynamo_backend",  # edited\n        ')
    assert provenance.code_hash("morphalign.train.launch", "morphalign.train", root=pkg) == both
    _edit(
        pkg / "train" / "launch.py",
        'mp = mixed_precision if gpus >= 1 else "no"',
        'mp = mixed_precision if gpus > 0 else "no"',
    )
    assert provenance.code_hash("morphalign.train.launch", "morphalign.train", root=pkg) != both


def test_unknown_entry_is_an_error():
    with pytest.raises(ValueError, match=r"'morphalign\.nope' is not a module"):
        provenance.code_hash("morphalign.nope")


def test_ast_digest_ignores_only_docstrings(tmp_path):
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text('"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # note\n')
    b.write_text(textwrap.dedent("def f(x):\n\n    return (x +\n            1)\n"))
    c.write_text("def f(x):\n    return x + 2\n")
    assert provenance.ast_digest(a) == provenance.ast_digest(b) != provenance.ast_digest(c)


def _hash_in_a_new_process(pkg: Path, env: dict[str, str]) -> str:
    code = "import sys; from pathlib import Path; from morphalign.provenance import code_hash\n"
    code += "print(code_hash('morphalign.train', root=Path(sys.argv[1])))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(pkg)], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_disk_cache_changes_no_hash_and_survives_a_torn_file(pkg, tmp_path):
    """Off, cold, warm and after a torn cache file: one hash; an edit with a warm cache: the new code's hash."""
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    off = _hash_in_a_new_process(pkg, {**cache, "MORPHALIGN_CODE_CACHE": "0"})
    assert not (tmp_path / "cache").exists()
    assert _hash_in_a_new_process(pkg, cache) == off  # cold: computed and written
    (file,) = (tmp_path / "cache" / "morphalign").glob("code-facts-*.json")
    assert 0 < len(json.loads(file.read_text())) <= len(provenance.closure(["morphalign.train"], root=pkg))
    assert _hash_in_a_new_process(pkg, cache) == off  # warm
    file.write_text('{"torn')
    assert _hash_in_a_new_process(pkg, cache) == off
    assert json.loads(file.read_text())  # rewritten whole
    _edit(pkg / "train" / "loop.py", "def train(", "def _added():\n    return 1\n\n\ndef train(")
    edited = _hash_in_a_new_process(pkg, cache)
    assert edited != off and edited == _hash_in_a_new_process(pkg, {**cache, "MORPHALIGN_CODE_CACHE": "0"})


def test_a_warm_cache_parses_nothing(pkg, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(provenance, "_CACHE", provenance._FactCache())
    provenance._facts_cached.cache_clear()
    cold = provenance.code_hash("morphalign.train", root=pkg)
    monkeypatch.setattr(provenance, "_CACHE", provenance._FactCache())  # a new process: only the disk remembers
    provenance._facts_cached.cache_clear()

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed although the cache holds these files")

    monkeypatch.setattr(provenance.ast, "parse", no_parsing)
    assert provenance.code_hash("morphalign.train", root=pkg) == cold
    provenance._facts_cached.cache_clear()
