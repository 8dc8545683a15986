"""The frozen towers embedded once per sweep (`embed.frozen`): training and embedding read them, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import make_run, train_run
from morphalign.embed.embed import FrozenFeatures, embed
from morphalign.embed.frozen import frozen_class_text, frozen_image, frozen_text, main
from morphalign.embed.zero_shot import write_class_prompts
from morphalign.errors import MorphalignError

ZERO_SHOT = {"templates": ["a radio image of {}."], "classes": {"FRI": ["a bright core"], "FRII": ["bright lobes"]}}


@pytest.fixture(scope="module")
def frozen(tiny_model_dir, small_dataset, caches, tmp_path_factory) -> dict[str, Path]:
    """The three frozen-tower files of the small dataset and its curated captions."""
    folder = tmp_path_factory.mktemp("frozen")
    m = str(tiny_model_dir)
    write_class_prompts(ZERO_SHOT, folder / "class_prompts.json")
    frozen_image(m, None, small_dataset, caches / "pixels.npy", "siglip", folder / "image.npy")
    frozen_text(m, None, small_dataset, caches / "tok.npz", folder / "text.npy")
    frozen_class_text(m, None, folder / "class_prompts.json", 64, True, folder / "class_text.npz")
    return {k: folder / f"{k}.{'npz' if k == 'class_text' else 'npy'}" for k in ("image", "text", "class_text")} | {
        "prompts": folder / "class_prompts.json"
    }


def _train(target, tiny_model_dir, small_dataset, caches, out: Path, frozen_file: Path | None):
    cfg = make_run(target, 0, train={"max_epochs": 2, "batch_size": 8, "lr": 1e-3, "patience": 5})
    return cfg, train_run(cfg, tiny_model_dir, small_dataset, caches, out, frozen=frozen_file)


def _embed(cfg, tiny_model_dir, small_dataset, caches, out: Path, frozen, adapter=None) -> dict[str, np.ndarray]:
    feats = FrozenFeatures.of(**{k: frozen[k] for k in ("image", "text", "class_text")}) if frozen else None
    info = embed(
        cfg, str(tiny_model_dir), small_dataset, caches / "pixels.npy", caches / "tok.npz", out, adapter,
        class_prompts=(frozen or {}).get("prompts") or _prompts(out.parent), frozen=feats,
    )  # fmt: skip
    with np.load(out) as z:
        return {k: z[k] for k in z.files} | {"_ran": info["towers_run"]}


def _prompts(folder: Path) -> Path:
    path = folder / "class_prompts.json"
    write_class_prompts(ZERO_SHOT, path)
    return path


def test_the_cache_holds_every_row_as_float32(frozen, small_dataset):
    from morphalign.artifacts import load_dataset

    n = len(load_dataset(small_dataset).images)
    image, text = np.load(frozen["image"]), np.load(frozen["text"])
    assert image.shape[0] == text.shape[0] == n and image.dtype == text.dtype == np.float32
    assert np.isfinite(image).all() and np.isfinite(text).all()
    assert not np.allclose(image[0], image[1])  # one embedding per row, not one repeated


@pytest.mark.parametrize("target", ["vision", "text"])
def test_training_against_the_cache_is_bit_identical(target, frozen, tiny_model_dir, small_dataset, caches, tmp_path):
    """A one-tower run trained against the sweep's cache equals the run that computes the frozen tower itself."""
    cached = frozen["image"] if target == "text" else frozen["text"]
    _, a = _train(target, tiny_model_dir, small_dataset, caches, tmp_path / "own", None)
    _, b = _train(target, tiny_model_dir, small_dataset, caches, tmp_path / "cache", cached)
    for key in ("initial_val_loss", "saved_val_loss", "best_epoch"):
        assert a[key] == b[key], key
    assert [e["train_loss"] for e in a["epochs"]] == [e["train_loss"] for e in b["epochs"]]
    sa = load_file(tmp_path / "own/adapter/adapter_model.safetensors")
    sb = load_file(tmp_path / "cache/adapter/adapter_model.safetensors")
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("target", ["frozen", "vision", "text", "full"])
def test_embedding_from_the_cache_is_bit_identical(target, frozen, tiny_model_dir, small_dataset, caches, tmp_path):
    """Every array of a run's embeddings file is the same whether its frozen towers are read or run."""
    adapter = None
    if target != "frozen":
        cfg, _ = _train(target, tiny_model_dir, small_dataset, caches, tmp_path / "run", None)
        adapter = tmp_path / "run" / "adapter"
    else:
        cfg = make_run("frozen")
    own = _embed(cfg, tiny_model_dir, small_dataset, caches, tmp_path / "own.npz", None, adapter)
    read = _embed(cfg, tiny_model_dir, small_dataset, caches, tmp_path / "read.npz", frozen, adapter)
    assert own["_ran"] == ["vision", "text"]
    expected = {"frozen": [], "vision": ["vision"], "text": ["text"], "full": ["vision", "text"]}[target]
    assert read["_ran"] == expected
    for k in own:
        if k != "_ran":
            assert np.array_equal(own[k], read[k]), k


def test_a_cache_of_another_dataset_is_refused(frozen, tiny_model_dir, small_dataset, caches, tmp_path):
    np.save(tmp_path / "short.npy", np.load(frozen["image"])[:-1])
    with pytest.raises(MorphalignError, match=r"short\.npy"):
        _train("text", tiny_model_dir, small_dataset, caches, tmp_path / "x", tmp_path / "short.npy")
    feats = dict(frozen, image=tmp_path / "short.npy")
    with pytest.raises(MorphalignError, match=r"short\.npy"):
        _embed(make_run("frozen"), tiny_model_dir, small_dataset, caches, tmp_path / "e.npz", feats)
    assert not (tmp_path / "e.npz").exists()


def test_the_cli_names_what_is_missing(tiny_model_dir, tmp_path, capsys):
    assert main(["text", "--model", str(tiny_model_dir), "--out", str(tmp_path / "t.npy")]) != 0
    assert "--dataset --tokens" in capsys.readouterr().err
    assert not (tmp_path / "t.npy").exists()
