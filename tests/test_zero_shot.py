"""Zero-shot classification: class prompts embedded by the text tower, and the training-caption centroids."""

from __future__ import annotations

import json

import numpy as np
import pytest

from morphalign.artifacts import check_embeddings
from morphalign.embed.zero_shot import class_embeddings, class_prompts, write_class_prompts
from morphalign.errors import MorphalignError
from morphalign.evaluate.metrics import evaluate, predictions


def _e(i: int, d: int = 6) -> np.ndarray:
    v = np.zeros(d)
    v[i] = 1.0
    return v


def _known(rng, swap_prompts: bool = False) -> dict[str, np.ndarray]:
    """Images of class c lie near e_c; training captions of class c near e_{c+2}; the class prompts at e_0, e_1."""
    ytr, yte = np.arange(40) % 2, np.arange(20) % 2
    noise = 0.1
    return {
        "train_image": np.stack([_e(y) for y in ytr]) + noise * rng.normal(size=(40, 6)),
        "train_text": np.stack([_e(y) + _e(y + 2) for y in ytr]) + noise * rng.normal(size=(40, 6)),
        "test_image": np.stack([_e(y) + 0.5 * _e(y + 2) for y in yte]) + noise * rng.normal(size=(20, 6)),
        "test_text": np.stack([_e(y + 2) for y in yte]) + noise * rng.normal(size=(20, 6)),
        "train_label": ytr,
        "test_label": yte,
        "class_text": np.stack([_e(1), _e(0)] if swap_prompts else [_e(0), _e(1)]),
    }


def test_zero_shot_on_embeddings_built_so_that_the_answer_is_known():
    rng = np.random.default_rng(0)
    m = evaluate(_known(rng))
    assert m["zeroshot_f1_prompts"] == 1.0 and m["zeroshot_accuracy_prompts"] == 1.0
    assert m["zeroshot_f1_centroids"] == 1.0  # each image is nearer its class's caption centroid
    swapped = evaluate(_known(rng, swap_prompts=True))
    assert swapped["zeroshot_f1_prompts"] == 0.0 and swapped["zeroshot_accuracy_prompts"] == 0.0
    table = predictions(_known(rng))
    assert (table["zeroshot_prompts_pred"] == table["label"]).all()
    assert np.all(np.abs(table["zeroshot_prompts_cosine"]) <= 1.0)


def test_without_class_prompts_only_the_centroids_are_scored():
    arrays = _known(np.random.default_rng(1))
    del arrays["class_text"]
    m = evaluate(arrays)
    assert "zeroshot_f1_prompts" not in m and m["zeroshot_f1_centroids"] == 1.0


def test_class_text_of_the_wrong_shape_names_the_array():
    arrays = _known(np.random.default_rng(2))
    arrays["class_text"] = arrays["class_text"][:1]  # one class for two labels
    with pytest.raises(MorphalignError, match=r"x.npz: class_text has shape \(1, 6\), expected one row per class"):
        check_embeddings(arrays, "x.npz")


def test_prompts_are_every_template_times_every_description_and_bad_ones_are_named(tmp_path):
    settings = {"templates": ["{}.", "a radio image of {}."], "classes": {"FR-I": ["a jet"], "FR-II": ["lobes", "x"]}}
    prompts = write_class_prompts(settings, tmp_path / "p.json")
    assert prompts == {"FR-I": ["a jet.", "a radio image of a jet."], "FR-II": ["lobes.", "a radio image of lobes.",
                                                                             "x.", "a radio image of x."]}  # fmt: skip
    assert json.loads((tmp_path / "p.json").read_text())["classes"] == prompts
    with pytest.raises(MorphalignError, match="must hold exactly one"):
        class_prompts({**settings, "templates": ["no slot"]})
    with pytest.raises(MorphalignError, match=r"zero_shot.classes.FR-II: no descriptions"):
        class_prompts({**settings, "classes": {"FR-I": ["a"], "FR-II": []}})


def test_class_embeddings_average_normalised_prompt_embeddings(tiny_model_dir, tmp_path):
    import torch

    from morphalign.model.encode import text_features
    from morphalign.model.load import load_model, load_processor
    from morphalign.model.preprocess import tokenize

    model, tok = load_model(str(tiny_model_dir)).eval(), load_processor(str(tiny_model_dir)).tokenizer
    write_class_prompts({"templates": ["{}.", "an image of {}."], "classes": {"a": ["a jet"], "b": ["two lobes"]}},
                        tmp_path / "p.json")  # fmt: skip
    class_text, names = class_embeddings(model, tok, tmp_path / "p.json", 64, True, "cpu")
    assert class_text.shape == (2, model.config.text_config.projection_size) and list(names) == ["a", "b"]
    with torch.no_grad():
        ids = torch.from_numpy(tokenize(["two lobes.", "an image of two lobes."], tok, 64, True).input_ids)
        e = torch.nn.functional.normalize(text_features(model, ids), dim=-1).mean(0)
    np.testing.assert_allclose(class_text[1], (e / e.norm()).numpy(), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(class_text, axis=1), 1.0, atol=1e-6)
