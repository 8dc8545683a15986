"""Conda environments: each file parses, agrees with pyproject.toml, and covers what its rules import.

conda itself is not available here, so `--sdm conda` cannot be run; these checks catch what would break it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import REPO

PACKAGE = REPO / "src" / "morphalign"
# import name -> distribution names it may appear under in an env file (conda or pip)
DISTRIBUTIONS = {
    "numpy": {"numpy"},
    "pandas": {"pandas"},
    "scipy": {"scipy"},
    "sklearn": {"scikit-learn"},
    "PIL": {"pillow"},
    "torch": {"pytorch", "pytorch-gpu", "pytorch-cpu", "torch"},
    "transformers": {"transformers"},
    "tokenizers": {"tokenizers"},
    "peft": {"peft"},
    "accelerate": {"accelerate"},
    "matplotlib": {"matplotlib"},
    "seaborn": {"seaborn"},
    "yaml": {"pyyaml"},
    "jsonschema": {"jsonschema"},
    "tqdm": {"tqdm"},
    "astropy": {"astropy"},
    "google": {"google-genai"},
    "httpx": {"google-genai"},
    "markdown_it": {"markdown-it-py"},
}
STDLIB = set(__import__("sys").stdlib_module_names) | {"morphalign", "snakemake"}
TRAIN_ENVS = ("train", "train-cpu")  # common.smk's TRAIN_ENV is one of these, by compute.conda_torch


def _env_specs(path: Path) -> dict[str, str]:
    """name -> version spec of every conda and pip dependency in an env file."""
    env = yaml.safe_load(path.read_text())
    specs = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", item)
            if m and not item.startswith("-"):
                specs[m.group(1).lower()] = m.group(2).replace(" ", "")
    return specs


def _pyproject_specs() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for d in deps:
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", d)
        out[m.group(1).lower()] = m.group(2).replace(" ", "")
    return out


def _rules() -> list[tuple[str, str, list[str]]]:
    """(rule, env file, entry modules) for every rule that runs code."""
    out = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"\n(?=rule \w+:)", text):
            name = re.match(r"rule (\w+):", block)
            if not name:
                continue
            env = re.search(r'conda:\s*\n\s*("([^"]+)"|TRAIN_ENV)', block)
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            modules = re.findall(r"python -m ([\w.]+)", block)
            entries = [f"script:{(smk.parent / script.group(1)).resolve()}"] if script else []
            entries += [f"module:{m}" for m in modules]
            if entries:
                assert env, f"rule {name.group(1)} runs code but has no conda: env"
                files = [env.group(2)] if env.group(2) else [f"../../envs/{n}.yaml" for n in TRAIN_ENVS]
                out += [(name.group(1), str((smk.parent / f).resolve()), entries) for f in files]
    return out


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def third_party_imports(entries: list[str]) -> set[str]:
    """Top-level third-party modules reachable from the entry points, through the import graph the code hashes use.

    Caption backends are imported by name at run time (`captions.backends.BACKENDS`), so a captions job may run any
    of them; `train.launch` execs `accelerate launch -m morphalign.train`.
    """
    from morphalign.captions.backends import BACKENDS, backend_module
    from morphalign.provenance import closure

    names, files, third = [], [], set()
    for e in entries:
        kind, value = e.split(":", 1)
        if kind == "script":
            names.append(value)
            files.append(Path(value))
            if value.endswith("caption.py"):
                names += [backend_module(b) for b in BACKENDS]
        else:
            names.append(value)
            if value == "morphalign.train.launch":
                names.append("morphalign.train")
                third.add("accelerate")
    files += closure(names).values()
    for path in files:
        third |= {n.split(".")[0] for n in _imports(path)} - STDLIB
    return third


ENVS = sorted((REPO / "envs").glob("*.yaml"))


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_parses_and_agrees_with_pyproject(env):
    data = yaml.safe_load(env.read_text())
    assert data["channels"] and data["dependencies"]
    specs, project = _env_specs(env), _pyproject_specs()
    assert any(k == "python" for k in specs) and specs["python"] == ">=3.11"
    for name, spec in specs.items():
        key = "torch" if name.startswith("pytorch") else name
        if key in project:
            assert spec == project[key], f"{env.name}: {name} {spec} differs from pyproject's {key}{project[key]}"


def test_every_rule_env_covers_its_imports():
    rules = _rules()
    assert {r for r, _, _ in rules} >= {"dataset", "captions", "finetune", "embed", "evaluate", "aggregate"}
    for rule, env, entries in rules:
        specs = _env_specs(Path(env))
        for module in sorted(third_party_imports(entries)):
            dists = DISTRIBUTIONS.get(module)
            assert dists is not None, f"rule {rule}: unknown third-party import {module!r}; add it to DISTRIBUTIONS"
            assert dists & set(specs), f"rule {rule} imports {module!r} but {Path(env).name} lacks {sorted(dists)}"


def test_profiles_loaded_by_tests_do_not_use_conda():
    for name in ("default", "slurm-local"):
        text = (REPO / "profiles" / name / "config.yaml").read_text()
        assert "conda" not in yaml.safe_load(text).get("software-deployment-method", "")


def _local_path_problems(env_copy: Path, repo: Path) -> list[str]:
    """Entries of an env file that name a local path which, read from where the file now lies, fails to resolve,
    leaves the repository, or (for an editable install) is not a Python project."""
    problems = []
    for dep in yaml.safe_load(env_copy.read_text())["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            m = re.match(r"^(-e|--editable|-r|--requirement|-c|--constraint)\s+(.+)$", item.strip())
            path = m.group(2) if m else item.strip() if item.strip().startswith((".", "/", "file:")) else None
            if path is None:
                continue
            target = (env_copy.parent / path.removeprefix("file:")).resolve()
            if not target.exists() or not target.is_relative_to(repo.resolve()):
                problems.append(f"{item!r} -> {target} (missing or outside the repository)")
            elif m and m.group(1) in ("-e", "--editable") and not (target / "pyproject.toml").is_file():
                problems.append(f"{item!r} -> {target} (not a Python project)")
    return problems


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_has_no_local_path_that_breaks_where_snakemake_copies_it(env, tmp_path):
    """Snakemake copies an env file to .snakemake/conda/<hash>.yaml and conda runs pip from that folder."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    copy = repo / ".snakemake" / "conda" / "0123abcd.yaml"
    copy.parent.mkdir(parents=True)
    copy.write_text(env.read_text())
    assert _local_path_problems(copy, repo) == []
    # the old line fails this check: from .snakemake/conda/, `..` is .snakemake/, not the repository
    copy.write_text(env.read_text().replace("  - pip:\n", "  - pip:\n      - -e ..\n"))
    assert any("not a Python project" in p for p in _local_path_problems(copy, repo))


def test_train_env_selects_the_cuda_build_and_the_cpu_variant_the_cpu_build():
    gpu = yaml.safe_load((REPO / "envs" / "train.yaml").read_text())
    cpu = yaml.safe_load((REPO / "envs" / "train-cpu.yaml").read_text())
    analysis = yaml.safe_load((REPO / "envs" / "analysis.yaml").read_text())
    for env in (gpu, cpu, analysis):
        assert env["channels"] == ["conda-forge"]  # the pytorch channel stopped at PyTorch 2.5
        assert not [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"pytorch\b(?!-)", d)]
    assert "pytorch-gpu>=2.4" in gpu["dependencies"] and "pytorch-cpu>=2.4" in cpu["dependencies"]
    assert "pytorch-cpu>=2.4" in analysis["dependencies"]
    assert "CONDA_OVERRIDE_CUDA" in (REPO / "envs" / "train.yaml").read_text()
