"""The GPU guard: a SLURM job given GPUs stops when torch sees none, instead of training on the CPU."""

from __future__ import annotations

import pytest
import torch

from morphalign.embed.__main__ import main as embed_main
from morphalign.errors import MorphalignError
from morphalign.model.device import check_gpus
from morphalign.train.launch import main as launch_main

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the guard's failure needs a machine without GPUs")


@pytest.fixture
def slurm_job(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURMD_NODENAME", "gpu-node-7")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")


def test_a_job_given_a_gpu_that_torch_cannot_see_stops(slurm_job):
    with pytest.raises(MorphalignError) as err:
        check_gpus(1)
    message = str(err.value)
    for fact in ("SLURM job 4242", "1 GPU(s)", "node gpu-node-7", "CUDA_VISIBLE_DEVICES=0", torch.__version__):
        assert fact in message
    assert "CUDA none: a CPU build" in message and "CONDA_OVERRIDE_CUDA" in message and "gpu: 0" in message


def test_the_override_lets_it_run(slurm_job):
    assert "guard off (gpu_guard: false)" in check_gpus(1, guard=False)


def test_no_gpu_requested_or_no_slurm_job_never_stops(slurm_job, monkeypatch):
    assert "0 GPU(s) visible" in check_gpus(0)
    monkeypatch.delenv("SLURM_JOB_ID")
    assert "0 GPU(s) visible" in check_gpus(1)  # a local run ignores the gpu resource


def test_fine_tuning_stops_before_launching(slurm_job, tmp_path, capsys):
    args = ["--accelerate-dir", str(tmp_path), "--gpus-requested", "1", "--", "--run-config", "x.json"]
    assert launch_main(args) == 1  # returned before exec'ing accelerate
    assert "SLURM job 4242 was given 1 GPU(s) but torch sees none" in capsys.readouterr().err


def test_embedding_stops_before_loading_anything(slurm_job, tmp_path, capsys):
    out = tmp_path / "e.npz"
    args = ["--run-config", "missing.json", "--model", "m", "--dataset", "d", "--pixels", "p", "--tokens", "t"]
    assert embed_main([*args, "--out", str(out), "--gpus-requested", "1"]) == 1
    assert "torch sees none" in capsys.readouterr().err and not out.exists()


def test_a_cpu_job_trains_in_the_launching_process(monkeypatch, tmp_path, capsys):
    """No GPU visible and none allocated: no `accelerate launch` (two more interpreters for one CPU process); a job
    allocated GPUs keeps accelerate, whatever torch sees."""
    from morphalign.train.launch import in_process

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert in_process(0) and not in_process(2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert in_process(0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert not in_process(0)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    # in-process: the training CLI's own error for a missing run config, not an exec of accelerate
    train = ["--run-config", str(tmp_path / "none.json"), "--model", "m", "--dataset", "d", "--pixels", "p"]
    train += ["--tokens", "t", "--adapter-out", "a", "--log-out", "l"]
    code = launch_main(["--accelerate-dir", str(tmp_path), "--", *train])
    err = capsys.readouterr().err
    assert code != 0 and "training in this process" in err and "none.json" in err


def test_the_workflow_gives_the_accelerate_configs_through_the_environment(monkeypatch, tmp_path, capsys):
    """No job's params hold a path of the checkout (a moved checkout reruns nothing): the launcher reads the folder
    of accelerate's configs from $MORPHALIGN_ACCELERATE_DIR, which common.smk sets, and says so when it is missing."""
    import os

    monkeypatch.delenv("MORPHALIGN_ACCELERATE_DIR", raising=False)
    with pytest.raises(SystemExit) as stopped:
        launch_main(["--", "--run-config", "x.json"])
    assert stopped.value.code == 2 and "$MORPHALIGN_ACCELERATE_DIR is not set" in capsys.readouterr().err

    monkeypatch.setenv("MORPHALIGN_ACCELERATE_DIR", str(tmp_path))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # allocated a GPU: accelerate launches (exec caught here)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    launched: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda exe, cmd: launched.append(cmd))
    launch_main(["--", "--run-config", "x.json"])
    assert launched and launched[0][launched[0].index("--config_file") + 1] == str(tmp_path / "single.yaml")
