"""Fine-tuning on the tiny model: determinism, the adapter round trip, frozen-tower caching, restore-best."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import embed_run, make_run, train_run
from morphalign.errors import MorphalignError
from morphalign.model.adapter import load_adapted
from morphalign.train.loop import accumulation_groups, steps_per_epoch

TINY: dict = {}  # set by the autouse fixture: the session's tiny model folder


@pytest.fixture(autouse=True)
def _tiny(tiny_model_dir):
    TINY["dir"] = tiny_model_dir


def _run(tiny_model_dir, target, seed=0, **train):
    return make_run(target, seed, train={"max_epochs": 3, "batch_size": 8, "lr": 1e-3, "patience": 5, **train})


def _train(run, small_dataset, caches, out):
    return train_run(run, TINY["dir"], small_dataset, caches, out)


def embed(run, small_dataset, pixels, tokens, out, adapter=None):
    embed_run(run, TINY["dir"], small_dataset, pixels.parent, out, adapter)


@pytest.mark.parametrize("target", ["vision", "text", "full"])
def test_same_seed_same_result(target, tiny_model_dir, small_dataset, caches, tmp_path):
    run = _run(tiny_model_dir, target)
    a = _train(run, small_dataset, caches, tmp_path / "a")
    b = _train(run, small_dataset, caches, tmp_path / "b")
    assert [e["val_loss"] for e in a["epochs"]] == [e["val_loss"] for e in b["epochs"]]
    assert [e["train_loss"] for e in a["epochs"]] == [e["train_loss"] for e in b["epochs"]]
    assert a["epochs"][-1]["train_loss"] < a["epochs"][0]["train_loss"] + 1.0
    for sub in ("a", "b"):
        embed(
            run,
            small_dataset,
            caches / "pixels.npy",
            caches / "tok.npz",
            tmp_path / f"{sub}.npz",
            tmp_path / sub / "adapter",
        )
    ea, eb = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    for k in ("train_image", "test_text"):
        assert np.array_equal(ea[k], eb[k])
    c = _train(_run(tiny_model_dir, target, seed=1), small_dataset, caches, tmp_path / "c")
    assert [e["train_loss"] for e in c["epochs"]] != [e["train_loss"] for e in a["epochs"]]


def test_adapter_reloads_and_changes_only_its_tower(tiny_model_dir, small_dataset, caches, tmp_path):
    run = _run(tiny_model_dir, "vision")
    log = _train(run, small_dataset, caches, tmp_path)
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    saved = json.loads((tmp_path / "log.json").read_text())
    assert saved["epochs_trained"] == log["epochs_trained"] == 3 and len(saved["epochs"]) == 3
    assert saved["best_val_loss"] == min(e["val_loss"] for e in saved["epochs"])
    frozen = _run(tiny_model_dir, "frozen")
    embed(frozen, small_dataset, caches / "pixels.npy", caches / "tok.npz", tmp_path / "f.npz")
    embed(run, small_dataset, caches / "pixels.npy", caches / "tok.npz", tmp_path / "v.npz", tmp_path / "adapter")
    f, v = np.load(tmp_path / "f.npz"), np.load(tmp_path / "v.npz")
    assert np.array_equal(f["test_text"], v["test_text"])  # text tower untouched
    assert not np.allclose(f["test_image"], v["test_image"])  # vision tower adapted
    model = load_adapted(str(tiny_model_dir), None, tmp_path / "adapter")
    assert any("lora_" in n for n, _ in model.named_parameters())


def test_frozen_tower_cache_matches_full_forward(tiny_model_dir, small_dataset, caches, tmp_path):
    """Epoch-0 validation loss (all towers evaluated from scratch) equals the cached-tower computation."""
    a = _train(_run(tiny_model_dir, "vision", max_epochs=1), small_dataset, caches, tmp_path / "v")
    b = _train(_run(tiny_model_dir, "full", max_epochs=1), small_dataset, caches, tmp_path / "f")
    # before any step LoRA's B matrices are zero, so both see the base model
    assert a["initial_val_loss"] == pytest.approx(b["initial_val_loss"], rel=1e-5)


def test_restore_best_vs_last(tiny_model_dir, small_dataset, caches, tmp_path):
    best = _train(_run(tiny_model_dir, "text", lr=0.05, max_epochs=4), small_dataset, caches, tmp_path / "b")
    last = _train(
        _run(tiny_model_dir, "text", lr=0.05, max_epochs=4, restore_best=False), small_dataset, caches, tmp_path / "l"
    )
    assert best["restored"] == "best" and last["restored"] == "last"
    assert [e["val_loss"] for e in best["epochs"]] == [e["val_loss"] for e in last["epochs"]]
    run = _run(tiny_model_dir, "text", lr=0.05, max_epochs=4)
    for sub in ("b", "l"):
        embed(
            run,
            small_dataset,
            caches / "pixels.npy",
            caches / "tok.npz",
            tmp_path / f"{sub}.npz",
            tmp_path / sub / "adapter",
        )
    assert best["best_epoch"] < best["epochs_trained"]  # lr 0.05 makes the validation loss jump about
    assert not np.array_equal(np.load(tmp_path / "b.npz")["test_text"], np.load(tmp_path / "l.npz")["test_text"])


def test_saved_weights_have_the_best_validation_loss(tiny_model_dir, small_dataset, caches, tmp_path):
    best = _train(_run(tiny_model_dir, "text", lr=0.05, max_epochs=4), small_dataset, caches, tmp_path / "b")
    assert best["saved_val_loss"] == pytest.approx(best["best_val_loss"], rel=1e-6)
    last = _train(
        _run(tiny_model_dir, "text", lr=0.05, max_epochs=4, restore_best=False), small_dataset, caches, tmp_path
    )
    assert last["saved_val_loss"] == pytest.approx(last["epochs"][-1]["val_loss"], rel=1e-6)


def test_a_run_that_never_improves_returns_the_untrained_adapter(tiny_model_dir, small_dataset, caches, tmp_path):
    # min_delta 100: no epoch beats the untrained validation loss by that much, so epoch 0 stays the best
    run = _run(tiny_model_dir, "text", lr=0.05, max_epochs=2, min_delta=100.0)
    log = _train(run, small_dataset, caches, tmp_path / "t")
    assert all(e["val_loss"] != log["initial_val_loss"] for e in log["epochs"])  # training did change the model
    assert log["best_epoch"] == 0 and log["best_val_loss"] == log["initial_val_loss"]
    assert log["saved_val_loss"] == pytest.approx(log["initial_val_loss"], rel=1e-6)
    embed(run, small_dataset, caches / "pixels.npy", caches / "tok.npz", tmp_path / "t.npz", tmp_path / "t" / "adapter")
    embed(_run(tiny_model_dir, "frozen"), small_dataset, caches / "pixels.npy", caches / "tok.npz", tmp_path / "f.npz")
    np.testing.assert_array_equal(np.load(tmp_path / "t.npz")["test_text"], np.load(tmp_path / "f.npz")["test_text"])


def test_accumulation_groups_close_at_the_end_of_each_epoch():
    assert accumulation_groups(3, 2) == [2, 2, 1] and steps_per_epoch(3, 2) == 2
    assert accumulation_groups(4, 2) == [2, 2, 2, 2] and steps_per_epoch(4, 2) == 2
    assert accumulation_groups(2, 1) == [1, 1] and steps_per_epoch(5, 8) == 1


def test_accumulation_never_crosses_an_epoch_and_the_schedule_ends_at_zero(
    tiny_model_dir, small_dataset, caches, tmp_path
):
    # 36 training rows in batches of 12: 3 batches an epoch, accumulated in pairs -> 2 steps an epoch, 4 in all.
    # Accumulation across epochs would step after global batches 2, 4, 6: lr 0.75 then 0.25 of the start.
    run = _run(tiny_model_dir, "text", batch_size=12, grad_accum=2, max_epochs=2, scheduler="linear", lr=1e-3)
    log = _train(run, small_dataset, caches, tmp_path)
    assert log["train_rows"] == 36
    assert [e["lr"] for e in log["epochs"]] == pytest.approx([0.5e-3, 0.0], abs=1e-12)


def test_early_stopping(tiny_model_dir, small_dataset, caches, tmp_path):
    log = _train(_run(tiny_model_dir, "text", lr=0.5, max_epochs=20, patience=1), small_dataset, caches, tmp_path)
    assert log["stopped_early"] and log["epochs_trained"] < 20


def test_frozen_target_is_not_trainable(tiny_model_dir, small_dataset, caches, tmp_path):
    with pytest.raises(MorphalignError, match="not trainable"):
        _train(make_run("frozen"), small_dataset, caches, tmp_path)


def test_token_stats(caches):
    stats = json.loads((caches / "stats.json").read_text())
    assert stats["captions"] == 64 and 0 <= stats["truncated_share"] <= 1
    assert stats["truncated"] == round(stats["truncated_share"] * 64)


def test_gradient_checkpointing_gives_the_same_run(tiny_model_dir, small_dataset, caches, tmp_path):
    """Activations recomputed in backward (dropout's masks replayed) train the same adapter as activations kept."""
    kept = _train(_run(tiny_model_dir, "full", max_epochs=2), small_dataset, caches, tmp_path / "kept")
    redo = _train(
        _run(tiny_model_dir, "full", max_epochs=2, gradient_checkpointing=True), small_dataset, caches, tmp_path / "re"
    )
    assert [e["train_loss"] for e in redo["epochs"]] == pytest.approx([e["train_loss"] for e in kept["epochs"]])
    assert redo["saved_val_loss"] == pytest.approx(kept["saved_val_loss"], rel=1e-5)
    assert redo["epochs"][-1]["train_loss"] != kept["epochs"][0]["train_loss"]  # it trained
