"""Data-parallel fine-tuning keeps the effective batch: two processes (gloo on the CPU, as accelerate's MULTI_CPU)
with half the batch each follow the same losses as one process with the whole batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import make_run

pytestmark = pytest.mark.slow


def _train(run_json, model_dir, small_dataset, caches, out, processes):
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--num_processes",
        str(processes),
    ]
    if processes > 1:
        cmd.append("--multi_gpu")  # with ACCELERATE_USE_CPU this is accelerate's MULTI_CPU (gloo)
    cmd += [
        "-m",
        "morphalign.train",
        "--run-config",
        str(run_json),
        "--model",
        str(model_dir),
        "--dataset",
        str(small_dataset),
        "--pixels",
        str(caches / "pixels.npy"),
        "--tokens",
        str(caches / "tok.npz"),
        "--adapter-out",
        str(out / "adapter"),
        "--log-out",
        str(out / "log.json"),
    ]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "log.json").read_text())


def test_two_processes_match_one(tiny_model_dir, small_dataset, caches, tmp_path):
    cfg = make_run(
        "full",
        0,
        lora={"dropout": 0.0},  # dropout masks differ between processes
        train={"max_epochs": 3, "batch_size": 16, "lr": 1e-3, "patience": 10},
    )
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps(cfg.to_dict()))
    one = _train(run_json, tiny_model_dir, small_dataset, caches, tmp_path / "one", 1)
    two = _train(run_json, tiny_model_dir, small_dataset, caches, tmp_path / "two", 2)
    assert one["num_processes"] == 1 and two["num_processes"] == 2
    assert one["per_device_batch"] == 16 and two["per_device_batch"] == 8
    for key in ("train_loss", "val_loss"):
        assert [e[key] for e in two["epochs"]] == pytest.approx([e[key] for e in one["epochs"]], rel=1e-4)
