"""Shared fixtures: a tiny SigLIP and a small synthetic dataset, built once per session in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach the Hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _scontrol_that_fails_fast_without_a_controller() -> None:
    """Put a stand-in for `scontrol` first on PATH when SLURM's client tools are installed here.

    The SLURM executor plugin is imported by every `snakemake` call, and at import it runs `scontrol show config`,
    which waits about 9 s for a controller when none is running (this machine has the client tools, and a controller
    only while tests/test_slurm.py runs one). The stand-in runs the real scontrol when a `slurmctld` is running and
    otherwise fails at once, as scontrol does when it cannot reach a controller, so the workflow tests do not each
    wait 9 s for nothing.
    """
    import shutil
    import tempfile

    real = shutil.which("scontrol")
    if real is None or "morphalign-scontrol" in real:
        return
    folder = Path(tempfile.mkdtemp(prefix="morphalign-scontrol-"))
    stand_in = folder / "scontrol"
    stand_in.write_text(
        "#!/bin/sh\n"
        "# morphalign tests: the real scontrol if a SLURM controller runs, else fail fast (see tests/conftest.py)\n"
        f'pgrep -x slurmctld > /dev/null 2>&1 && exec "{real}" "$@"\n'
        'echo "scontrol: no SLURM controller is running here" >&2\n'
        "exit 1\n"
    )
    stand_in.chmod(0o755)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ['PATH']}"


_scontrol_that_fails_fast_without_a_controller()

if os.environ.get("PYTEST_XDIST_WORKER"):  # one of `-n N` workers: N share the cores, so each computes on one thread
    # (in this process only: OMP_NUM_THREADS would reach `nproc`, and the test SLURM cluster would get one CPU)
    import torch

    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SHARED_DATA = REPO.parent / "shared" / "data"
MIRABEST_F = SHARED_DATA / "mirabest" / "MiraBest_F_batches.tar.gz"
PAPER_CAPTIONS = SHARED_DATA / "paper_captions"


def need_shared(path: Path) -> Path:
    """The shared data file or folder; skip when it is absent, except in CI, where it must be there."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must run with ../shared beside the repository")
        pytest.skip(f"{path} is not here (the tests look for ../shared beside the repository)")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from morphalign.model.tiny import TinySpec, write_tiny

    folder = tmp_path_factory.mktemp("models") / "tiny-siglip"
    # 2 layers, 32 wide, 32 px: fast CPU tests
    write_tiny(
        folder, TinySpec(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, image_size=32, patch_size=8)
    )
    return folder


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    from morphalign.artifacts import write_dataset
    from morphalign.data.synthetic import generate

    folder = tmp_path_factory.mktemp("data") / "synthetic"
    images, manifest = generate(n_train=48, n_test=16, seed=7, val_size=12, val_seed=42)
    write_dataset(folder, images, manifest)
    return folder


def build_caches(dataset: Path, model_dir: Path, folder: Path) -> Path:
    """Curated describer captions (cap.csv), the pixel cache (pixels.npy) and the token cache (tok.npz) of a dataset."""
    from morphalign.cache.build import build_pixel_cache, build_token_cache
    from morphalign.captions.backends import Prompt
    from morphalign.captions.stage import run_captions

    folder.mkdir(parents=True, exist_ok=True)
    run_captions(dataset, Prompt("curated", "Describe.", "describer", {"style": "curated"}), folder / "cap.csv")
    build_pixel_cache(dataset, str(model_dir), None, folder / "pixels.npy")
    build_token_cache(
        dataset, folder / "cap.csv", str(model_dir), None, 64, True, folder / "tok.npz", folder / "stats.json"
    )
    return folder


@pytest.fixture(scope="session")
def caches(small_dataset, tiny_model_dir, tmp_path_factory):
    """Curated describer captions, the pixel cache and the token cache of the small dataset."""
    return build_caches(small_dataset, tiny_model_dir, tmp_path_factory.mktemp("caches"))


def make_run(target: str, seed: int | None = 0, prompt: str = "curated", **sections: dict):
    """A validated RunConfig of one run, with config sections overridden (`train={...}`, `lora={...}`)."""
    from morphalign.config import run_config, validate_config
    from morphalign.runs import Run, RunConfig

    cfg = validate_config({"dataset": {"val_size": 12}, **sections}, SCHEMA)
    run = Run(prompt, target, None if target == "frozen" else seed)
    return RunConfig.from_dict(run_config(cfg, run))


def train_run(
    cfg, model_dir: Path, dataset: Path, caches: Path, out: Path, checkpoint: Path | None = None, frozen=None
) -> dict:
    """Fine-tune a run into `out` (adapter/, log.json) from the session caches (and a frozen tower's features)."""
    from morphalign.train.loop import TrainPaths, train

    paths = TrainPaths.of(
        dataset=dataset,
        pixels=caches / "pixels.npy",
        tokens=caches / "tok.npz",
        adapter=out / "adapter",
        log=out / "log.json",
        checkpoint=checkpoint,
        frozen=frozen,
    )
    return train(cfg, paths, str(model_dir))


def embed_run(cfg, model_dir: Path, dataset: Path, caches: Path, out: Path, adapter: Path | None = None) -> None:
    from morphalign.embed.embed import embed

    embed(cfg, str(model_dir), dataset, caches / "pixels.npy", caches / "tok.npz", out, adapter)


@pytest.fixture
def fake_gemini(monkeypatch):
    """Start local fake Gemini servers (`make(**options)`), each with GEMINI_API_KEY set to its key; closed after."""
    from morphalign.testing.fake_gemini import FakeGemini

    servers = []

    def make(**kw):
        servers.append(FakeGemini(**kw))
        monkeypatch.setenv("GEMINI_API_KEY", servers[-1].api_key)
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def snakemake_command(workdir: Path, *configs: Path) -> list[str]:
    """`snakemake` on this checkout's workflow and default config (then `configs` on top of it), run in `workdir`."""
    import sys

    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    files = [str(REPO / "config" / "config.yaml"), *map(str, configs)]
    return [*cmd, "--configfile", *files, "--workflow-profile", "none"]


DEFAULT_RUN_GROUP = "default_run"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items) -> None:
    """Every test that uses `default_run`, at any depth of its fixtures, joins one `xdist_group`, so that one test
    process holds them all and the default runs (or is checked) once, and carries the `default_run` marker, so that
    `-m "not default_run"` runs the rest while the default is still running (as `.ci/run` does)."""
    for item in items:
        if DEFAULT_RUN_GROUP in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(DEFAULT_RUN_GROUP))
            item.add_marker(pytest.mark.default_run)


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """The working directory of a finished run of the default (slow tests only).

    CI runs `snakemake --cores 2` first and points MORPHALIGN_DEFAULT_RUN at its working directory; without it the
    default runs here, in a temporary folder (about 15 minutes). Its tests join `xdist_group("default_run")`
    (`pytest_collection_modifyitems` above), so one test process holds them all and the default runs once.
    """
    import subprocess

    given = os.environ.get("MORPHALIGN_DEFAULT_RUN")
    workdir = Path(given) if given else tmp_path_factory.mktemp("default")
    cmd = snakemake_command(workdir)
    if given:  # a finished run of this very code and config: nothing may be left to do
        plan = subprocess.run([*cmd, "-n"], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert "Nothing to be done" in plan.stdout + plan.stderr, (plan.stdout + plan.stderr)[-3000:]
    else:
        done = subprocess.run([*cmd, "--cores", "2"], capture_output=True, text=True)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return workdir
