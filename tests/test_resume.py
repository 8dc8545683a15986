"""A fine-tuning job killed mid-run and started again resumes from its last epoch and ends where an uninterrupted
run ends (same losses, adapter, embeddings and metrics), but only onto identical inputs: a checkpoint made from
another dataset, other caches or other settings is ignored, with the reason in the log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import torch

from conftest import build_caches, embed_run, make_run, train_run
from morphalign.artifacts import load_embeddings
from morphalign.evaluate.metrics import evaluate

TRAIN = {"max_epochs": 12, "patience": 50, "batch_size": 8, "lr": 1e-3, "scheduler": "cosine", "weight_decay": 0.01}


def _train_cmd(run_json, model_dir, dataset, caches, out):
    return [
        *(sys.executable, "-m", "morphalign.train", "--run-config", str(run_json), "--model", str(model_dir)),
        *("--dataset", str(dataset), "--pixels", str(caches / "pixels.npy"), "--tokens", str(caches / "tok.npz")),
        *("--adapter-out", str(out / "adapter"), "--log-out", str(out / "train_log.json")),
        *("--checkpoint-dir", str(out / "ckpt")),
    ]


def _kill_after_epoch(cmd, epoch: int) -> None:
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # kill it while the epoch ends (its checkpoint is being written, atomically)
        if line.startswith(f"epoch {epoch}:"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _write_run(tmp_path, cfg):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(cfg.to_dict()))
    return path


def test_killed_run_resumes_to_identical_metrics(tiny_model_dir, small_dataset, caches, tmp_path):
    cfg = make_run("full", 3, train=TRAIN)
    run_json = _write_run(tmp_path, cfg)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    done = subprocess.run(_train_cmd(run_json, tiny_model_dir, small_dataset, caches, whole), capture_output=True)
    assert done.returncode == 0, done.stderr

    _kill_after_epoch(_train_cmd(run_json, tiny_model_dir, small_dataset, caches, killed), 4)
    assert (killed / "ckpt" / "state.pt").is_file()
    assert not (killed / "train_log.json").exists() and not (killed / "adapter").exists()
    (killed / "ckpt" / ".state.pt.tmp-orphan").write_bytes(b"left by a kill during a save")

    cmd = _train_cmd(run_json, tiny_model_dir, small_dataset, caches, killed)
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "resumed from the checkpoint of epoch" in again.stderr
    a = json.loads((whole / "train_log.json").read_text())
    b = json.loads((killed / "train_log.json").read_text())
    assert b["resumed_from_epoch"] >= 3 and a["resumed_from_epoch"] is None
    for key in ("train_loss", "val_loss", "lr"):
        assert [e[key] for e in a["epochs"]] == [e[key] for e in b["epochs"]]
    assert not (killed / "ckpt").exists()  # removed once the run is complete, orphaned temporary file included

    for out in (whole, killed):
        embed_run(cfg, tiny_model_dir, small_dataset, caches, out / "E.npz", out / "adapter")
    ea, eb = load_embeddings(whole / "E.npz"), load_embeddings(killed / "E.npz")
    for k in ("train_image", "train_text", "test_image", "test_text"):
        assert np.array_equal(ea[k], eb[k]), k
    assert evaluate(ea) == evaluate(eb)


def test_checkpoint_from_another_dataset_starts_fresh(tiny_model_dir, small_dataset, caches, tmp_path):
    """Killed on one dataset (synthetic seed 7), rerun on another (seed 8): it must not resume."""
    from morphalign.artifacts import write_dataset
    from morphalign.data.synthetic import generate

    other = tmp_path / "seed8"
    write_dataset(other, *generate(n_train=48, n_test=16, seed=8, val_size=12, val_seed=42))
    other_caches = build_caches(other, tiny_model_dir, tmp_path / "caches8")
    cfg = make_run("text", 0, train={**TRAIN, "max_epochs": 4})
    run_json = _write_run(tmp_path, cfg)
    out, clean = tmp_path / "run", tmp_path / "clean"

    _kill_after_epoch(_train_cmd(run_json, tiny_model_dir, small_dataset, caches, out), 2)
    assert (out / "ckpt" / "state.pt").is_file()
    rerun = subprocess.run(
        _train_cmd(run_json, tiny_model_dir, other, other_caches, out), capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed" not in rerun.stderr
    assert "checkpoint made from other inputs (dataset, pixel cache, token cache differ)" in rerun.stderr
    subprocess.run(_train_cmd(run_json, tiny_model_dir, other, other_caches, clean), check=True, capture_output=True)

    a = json.loads((out / "train_log.json").read_text())
    b = json.loads((clean / "train_log.json").read_text())
    assert a["resumed_from_epoch"] is None
    assert [e["val_loss"] for e in a["epochs"]] == [e["val_loss"] for e in b["epochs"]]
    for d in (out, clean):
        embed_run(cfg, tiny_model_dir, other, other_caches, d / "E.npz", d / "adapter")
    assert evaluate(load_embeddings(out / "E.npz")) == evaluate(load_embeddings(clean / "E.npz"))


def test_checkpoint_of_other_settings_is_ignored(tiny_model_dir, small_dataset, caches, tmp_path, capsys):
    out = tmp_path / "r"
    (out / "ckpt").mkdir(parents=True)
    torch.save({"resume_key": {"run settings": "something-else"}}, out / "ckpt" / "state.pt")
    cfg = make_run("text", 0, train={"max_epochs": 2, "batch_size": 8})
    log = train_run(cfg, tiny_model_dir, small_dataset, caches, out, checkpoint=out / "ckpt")
    assert log["resumed_from_epoch"] is None and log["epochs_trained"] == 2
    err = capsys.readouterr().err
    assert "checkpoint made from other inputs" in err and "run settings" in err
