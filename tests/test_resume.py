"""A fine-tuning job killed mid-run and started again resumes from its last epoch and ends where an uninterrupted
run ends: same losses, same adapter, same embeddings, same metrics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np

from conftest import SCHEMA
from morphalign.config import run_config, validate_config
from morphalign.embed import embed
from morphalign.evaluate import evaluate, load_embeddings


def _train_cmd(run_json, small_dataset, caches, out):
    return [
        sys.executable,
        "-m",
        "morphalign.train",
        "--run-config",
        str(run_json),
        "--dataset",
        str(small_dataset),
        "--pixels",
        str(caches / "pixels.npy"),
        "--tokens",
        str(caches / "tok.npz"),
        "--adapter-out",
        str(out / "adapter"),
        "--log-out",
        str(out / "train_log.json"),
        "--checkpoint-dir",
        str(out / "ckpt"),
    ]


def test_killed_run_resumes_to_identical_metrics(tiny_model_dir, small_dataset, caches, tmp_path):
    cfg = validate_config(
        {
            "model": {"name_or_path": str(tiny_model_dir)},
            "dataset": {"val_size": 12},
            "train": {
                "max_epochs": 12,
                "patience": 50,
                "batch_size": 8,
                "lr": 1e-3,
                "scheduler": "cosine",
                "weight_decay": 0.01,
            },
        },
        SCHEMA,
    )
    run = run_config(cfg, "curated", "full", 3)
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps(run))

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    done = subprocess.run(_train_cmd(run_json, small_dataset, caches, whole), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    proc = subprocess.Popen(_train_cmd(run_json, small_dataset, caches, killed), stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # kill it while epoch 4 ends (its checkpoint is being written, atomically)
        if line.startswith("epoch 4:"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (killed / "ckpt" / "state.pt").is_file()
    assert not (killed / "train_log.json").exists() and not (killed / "adapter").exists()

    again = subprocess.run(_train_cmd(run_json, small_dataset, caches, killed), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "resumed from the checkpoint of epoch" in again.stderr
    a = json.loads((whole / "train_log.json").read_text())
    b = json.loads((killed / "train_log.json").read_text())
    assert b["resumed_from_epoch"] >= 3 and a["resumed_from_epoch"] is None
    for key in ("train_loss", "val_loss", "lr"):
        assert [e[key] for e in a["epochs"]] == [e[key] for e in b["epochs"]]
    assert not (killed / "ckpt").exists()  # removed once the run is complete

    for out in (whole, killed):
        embed(run, small_dataset, caches / "pixels.npy", caches / "tok.npz", out / "E.npz", out / "adapter")
    ea, eb = load_embeddings(whole / "E.npz"), load_embeddings(killed / "E.npz")
    for k in ("train_image", "train_text", "test_image", "test_text"):
        assert np.array_equal(ea[k], eb[k]), k
    assert evaluate(ea) == evaluate(eb)


def test_checkpoint_of_other_settings_is_ignored(tiny_model_dir, small_dataset, caches, tmp_path):
    from morphalign.train import train

    cfg = validate_config(
        {
            "model": {"name_or_path": str(tiny_model_dir)},
            "dataset": {"val_size": 12},
            "train": {"max_epochs": 2, "batch_size": 8},
        },
        SCHEMA,
    )
    out = tmp_path / "r"
    run = run_config(cfg, "curated", "text", 0)
    (out / "ckpt").mkdir(parents=True)
    import torch

    torch.save({"run_hash": "something-else"}, out / "ckpt" / "state.pt")
    log = train(
        run, small_dataset, caches / "pixels.npy", caches / "tok.npz", out / "adapter", out / "log.json", out / "ckpt"
    )
    assert log["resumed_from_epoch"] is None and log["epochs_trained"] == 2
