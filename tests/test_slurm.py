"""The workflow on a real SLURM scheduler: the single-node cluster of ../shared/tools/local-slurm.

Slow (a few minutes): every job goes through sbatch and the plugin polls squeue. The cluster advertises one fake
GPU (SLURM_FAKE_GPUS=1) so that the fine-tuning rule's `gpu: 1` request is scheduled. Skipped, with the reason, when
not root or without apt-get (the cluster is installed from Debian's packages); never skipped in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from test_workflow import ONE_PROMPT, SNAKEFILE, SNAKEMAKE, TINY_SWEEP, job_counts, write_config

TOOLS = REPO.parent / "shared" / "tools" / "local-slurm"
PROFILE = REPO / "profiles" / "slurm-local"

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.xdist_group("slurm")]


def _local_rules() -> set[str]:
    """The rules that run on the submitting node: `all` and those `localrules:` names in the rule files."""
    names = {"all"}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:    \w+,\n)+)", smk.read_text(), flags=re.M):
            names |= set(re.findall(r"\w+", block))
    return names


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the local SLURM cluster needs root"
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        return "the local SLURM cluster is installed with apt-get, which is missing"
    if not (TOOLS / "start_slurm.sh").is_file():
        return f"{TOOLS} is missing (../shared beside the repository)"
    return None


def _stale_jobs() -> list[str]:
    """Jobs the controller recovered from its saved state: this module starts the cluster, so none are its own."""
    proc = subprocess.run(["squeue", "--noheader", "--format=%i"], capture_output=True, text=True)
    return proc.stdout.split() if proc.returncode == 0 else []


@pytest.fixture(scope="module")
def cluster():
    reason = _unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the SLURM tests: {reason}")
        pytest.skip(reason)
    env = {**os.environ, "SLURM_FAKE_GPUS": "1"}
    start = subprocess.run(["bash", str(TOOLS / "start_slurm.sh")], env=env, capture_output=True, text=True)
    stale = _stale_jobs() if start.returncode != 0 else []
    if stale:  # an earlier run was killed with its jobs running: the restarted controller still holds the node for them
        subprocess.run(["scancel", *stale], capture_output=True, text=True)
        start = subprocess.run(["bash", str(TOOLS / "start_slurm.sh")], env=env, capture_output=True, text=True)
    assert start.returncode == 0, f"(stale jobs cancelled: {stale})\n" + start.stdout + start.stderr
    try:
        yield
    finally:
        subprocess.run(["bash", str(TOOLS / "stop_slurm.sh")], env=env, capture_output=True, text=True)


def _snakemake_slurm(workdir, *args):
    cmd = [
        *SNAKEMAKE,
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--workflow-profile",
        "none",
        "--profile",
        str(PROFILE),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=1500)


def test_failing_job_reports_its_log(cluster, tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    from PIL import Image

    for i in range(6):
        Image.fromarray(np.full((20, 20), 40 * i, np.uint8)).save(images / f"a{i}.png")
    (images / "a3.png").write_bytes(b"broken")
    pd.DataFrame(
        {"file": [f"a{i}.png" for i in range(6)], "label": ["x", "y"] * 3, "split": ["train"] * 4 + ["test"] * 2}
    ).to_csv(tmp_path / "labels.csv", index=False)
    cfg = write_config(
        tmp_path,
        {
            **TINY_SWEEP,
            "dataset": {
                "source": "folder",
                "val_size": 1,
                "folder": {"images_dir": str(images), "labels_csv": str(tmp_path / "labels.csv")},
            },
            "evaluate": {"knn_k": 3},  # the k-NN probe needs at most as many neighbours as the 4 training images
        },
    )
    proc = _snakemake_slurm(tmp_path, "results/data/manifest.csv", "--configfile", str(cfg))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule dataset" in out and "logs/dataset.log" in out
    assert "submitted with SLURM jobid" in out
    assert "row 5 ('a3.png'): unreadable image" in (tmp_path / "logs" / "dataset.log").read_text()


def test_init_then_profile_by_name_runs_a_sweep(cluster, tmp_path):
    """As a user: `python -m morphalign.cluster init ...`, then `snakemake --profile slurm` from a work folder.

    The one sweep through sbatch here (each costs about 3 minutes of polling): it also checks that fine-tuning asks
    SLURM for a GPU and runs under accelerate.
    """
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HF_HUB_OFFLINE": "1"}
    init = [sys.executable, "-m", "morphalign.cluster", "init", "--account", "local", "--partition", "debug"]
    init += ["--gpu-partition", "debug", "--status-command", "squeue"]  # no slurmdbd here: poll squeue
    done = subprocess.run(init, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "sacctmgr unavailable" in done.stdout  # partitions were checked with sinfo; accounts cannot be here

    work = tmp_path / "work"
    work.mkdir()
    small = {"mem_mb": 1000, "cpus_per_task": 1}
    compute = {"finetune": {**small, "mem_mb": 2000}, "embed": small, "evaluate": {"mem_mb": 1000}}
    # one prompt: what SLURM does with a job does not depend on how many prompts fan out (every job is submitted
    # alike). 2 runs, one of them a fine-tune, in 16 sbatch jobs: with both prompts 22, and 264 core-seconds against
    # 191 for the test file (measured in one run here)
    sweep = {"prompts": {"curated": ONE_PROMPT}, "seeds": 1, "targets": ["frozen", "text"], "compute": compute}
    cfg = write_config(work, {**TINY_SWEEP, **sweep})
    # the 2-CPU test node: two runs per group job, quick polling, and its GPU is fake (guard off)
    test_node = ["--group-components", "post=2", "--slurm-init-seconds-before-status-checks", "5"]
    test_node += ["--seconds-between-status-checks", "5", "--config", "gpu_guard=False"]
    cmd = [*SNAKEMAKE, "--profile", "slurm", "--configfile", str(cfg), *test_node]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work, timeout=1500)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    res = work / "results"
    assert "Linear probe F1, text" in (res / "tables" / "table1.md").read_text()
    for png in ("tsne_grid", "training_curves", "caption_alignment", "cosine_distributions"):
        assert (res / "figures" / f"{png}.png").stat().st_size > 0
    # every job but the local ones (the report's pages) went through sbatch, each run's embedding and evaluation
    # in group jobs
    jobs = job_counts(out)
    local = sum(jobs.get(rule, 0) for rule in _local_rules())
    single = jobs["total"] - local - 4  # the 4 embed and evaluate jobs of 2 runs go in group jobs of up to 2 runs
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", out)
    assert single + 1 <= len(submitted) <= single + 2
    finetune_jobs = [int(job) for job, log in submitted if "rule_finetune" in log]
    assert len(finetune_jobs) == jobs["finetune"] == 1

    # fine-tuning asked SLURM for a GPU, got one (CUDA_VISIBLE_DEVICES set by SLURM) and ran under accelerate
    run = work / "results" / "runs" / "curated" / "text" / "seed0"
    log = (work / "logs" / "runs" / "curated" / "text" / "seed0" / "finetune.log").read_text()
    assert re.search(r"CUDA_VISIBLE_DEVICES=\d", log), log[:500]
    assert "accelerate.commands.launch" in log
    # the GPU is fake: the guard would stop the job, and the command line's gpu_guard=False reached it
    assert "asked for 1 GPU(s), guard off (gpu_guard: false)" in log
    assert f"from {REPO / 'src' / 'morphalign'}" in log
    train_log = pd.read_json(run / "train_log.json", typ="series")
    assert train_log["launcher"] == "accelerate"
    for job in finetune_jobs:  # finished jobs stay visible to scontrol for MinJobAge=300 s
        info = subprocess.run(["scontrol", "show", "job", str(job)], capture_output=True, text=True).stdout
        assert re.search(r"gres/gpu[:=]1|gpu:1", info), info
