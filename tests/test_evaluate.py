"""Metrics against values computed by hand on small arrays."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from morphalign.errors import MorphalignError
from morphalign.evaluate.__main__ import main
from morphalign.evaluate.metrics import EvalSettings, chance_levels, evaluate, knn_f1, predictions, ranks, retrieval


def test_retrieval_by_hand():
    # cos(image_i, text_j): image 0 matches text 0; image 1 is closest to text 2; image 2 closest to text 2
    image = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    text = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]])
    labels = np.array([0, 1, 1])
    m = retrieval(image, text, labels)
    # i2t: image0 -> text0 (own, rank 0); image1 -> text2 first (own text1 ranks 2nd? cos 0.6 vs 0.8) ;
    # image2 -> text2 (own). So R@1 i2t = 2/3.
    assert m["recall_at_1_i2t"] == pytest.approx(2 / 3)
    # t2i: text0 -> image0 (own); text1 -> image2 (cos .96) vs image0 (.8) vs image1 (.6): own ranks 3rd;
    # text2 -> image2 (own, 1.0). R@1 t2i = 2/3
    assert m["recall_at_1_t2i"] == pytest.approx(2 / 3)
    assert m["recall_at_1"] == pytest.approx(2 / 3)
    assert m["recall_at_5"] == 1.0  # only 3 candidates
    # class recall i2t: image0->text0 (0==0), image1->text2 (1==1), image2->text2 (1==1) -> 1
    # t2i: text0->image0 ok, text1->image2 (1==1) ok, text2->image2 ok -> 1
    assert m["class_recall_at_1"] == 1.0


def test_ties_break_to_lower_index():
    sim = np.array([[0.5, 0.5, 0.1], [0.9, 0.9, 0.9], [0.3, 0.3, 0.3]])
    # row 0: own (0) tied with 1, lower index wins -> rank 0; row 1: own (1) tied with 0 -> rank 1;
    # row 2: three-way tie -> own index 2 ranks last
    assert ranks(sim).tolist() == [0, 1, 2]


def test_chance_levels():
    c = chance_levels(np.array([0, 0, 0, 1]))
    assert c["chance_recall_at_1"] == 0.25
    assert c["chance_recall_at_5"] == 1.0
    assert c["chance_class_recall_at_1"] == pytest.approx(0.75**2 + 0.25**2)


def test_knn_by_hand():
    x_train = np.array([[1, 0], [1, 0.1], [1, 0.2], [0, 1], [0.1, 1], [0.2, 1]], dtype=float)
    y_train = np.array([0, 0, 0, 1, 1, 1])
    x_test = np.array([[1, 0.05], [0.05, 1], [1, 0.9]])
    y_test = np.array([0, 1, 1])
    # k=1: third test point [1, 0.9] is nearer (cosine) to [1, 0.2]? cos to [1,.2]=.936, to [.2,1]=.860 -> class 0
    # predictions [0, 1, 0] -> F1 class0 = 2*1/(2*1+1)... precision 1/2, recall 1 -> 2/3; class1: p=1, r=1/2 -> 2/3
    assert knn_f1(x_train, y_train, x_test, y_test, k=1) == pytest.approx(2 / 3)


def _arrays(rng, n_train=40, n_test=12, d=6):
    ytr = np.arange(n_train) % 2
    yte = np.arange(n_test) % 2
    centres = np.array([[3.0] * d, [-3.0] * d])
    img_tr = centres[ytr] + rng.normal(size=(n_train, d))
    img_te = centres[yte] + rng.normal(size=(n_test, d))
    return {
        "train_image": img_tr,
        "train_text": img_tr + 0.01,
        "test_image": img_te,
        "test_text": img_te + 0.01,
        "train_label": ytr,
        "test_label": yte,
    }


def _uninformative_text(rng):
    """Separable images, and text features of pure noise: they carry no class information."""
    arrays = _arrays(rng)
    arrays["train_text"] = rng.normal(size=arrays["train_text"].shape)
    arrays["test_text"] = rng.normal(size=arrays["test_text"].shape)
    return arrays


def test_evaluate_separable_and_identical_modalities():
    arrays = _arrays(np.random.default_rng(0))
    m = evaluate(arrays)
    for key in (
        "linear_probe_f1_image",
        "linear_probe_f1_text",
        "linear_probe_f1_concat",
        "knn_f1_image",
        "knn_f1_text",
        "knn_f1_concat",
    ):
        assert m[key] == 1.0
    assert m["mean_cosine"] > 0.99
    assert m["class_recall_at_1"] == 1.0


def test_text_probe_uses_text_features():
    """The reference code fitted its 'text' probe on image features; ours must see the text."""
    arrays = _uninformative_text(np.random.default_rng(1))
    m = evaluate(arrays)
    assert m["linear_probe_f1_image"] == 1.0
    assert m["linear_probe_f1_text"] < 0.9


def test_mean_cosine_by_hand():
    arrays = _arrays(np.random.default_rng(2), n_test=2, d=2)
    arrays["test_image"] = np.array([[1.0, 0.0], [0.0, 2.0]])
    arrays["test_text"] = np.array([[1.0, 1.0], [0.0, -1.0]])
    assert evaluate(arrays)["mean_cosine"] == pytest.approx((np.sqrt(0.5) - 1.0) / 2)


def test_cli_writes_flat_json(tmp_path):
    arrays = _arrays(np.random.default_rng(3))
    np.savez(tmp_path / "E.npz", **arrays)
    assert main(["--embeddings", str(tmp_path / "E.npz"), "--out", str(tmp_path / "M.json")]) == 0
    m = json.loads((tmp_path / "M.json").read_text())
    assert {"recall_at_1_i2t", "recall_at_5_t2i", "class_recall_at_1_i2t", "chance_recall_at_1"} <= set(m)
    assert all(isinstance(v, float) for v in m.values())
    assert not (tmp_path / "P.csv").exists()  # predictions only on request


def test_cli_writes_predictions(tmp_path):
    arrays = _arrays(np.random.default_rng(3))
    arrays["test_id"] = np.array([f"img{i}" for i in range(12)])
    np.savez(tmp_path / "E.npz", **arrays)
    args = ["--embeddings", str(tmp_path / "E.npz"), "--out", str(tmp_path / "M.json")]
    assert main([*args, "--predictions", str(tmp_path / "P.csv")]) == 0
    table = pd.read_csv(tmp_path / "P.csv")
    assert table["id"].tolist() == [f"img{i}" for i in range(12)] and table["label"].tolist() == [0, 1] * 6
    for probe in ("linear_probe", "knn"):
        for feats in ("image", "text", "concat"):
            assert (table[f"{probe}_{feats}_pred"] == table["label"]).all()  # separable: every probe is right
    assert {"cosine", "rank_i2t", "rank_t2i", "top1_label_i2t", "top1_label_t2i"} <= set(table.columns)
    m = json.loads((tmp_path / "M.json").read_text())
    assert np.mean(table["rank_i2t"] == 0) == pytest.approx(m["recall_at_1_i2t"])


def test_cli_rejects_incomplete_embeddings(tmp_path, capsys):
    arrays = _arrays(np.random.default_rng(4))
    del arrays["test_text"]
    np.savez(tmp_path / "E.npz", **arrays)
    assert main(["--embeddings", str(tmp_path / "E.npz"), "--out", str(tmp_path / "M.json")]) == 1
    assert "test_text" in capsys.readouterr().err
    assert not (tmp_path / "M.json").exists()


def test_mismatched_rows_named():
    arrays = _arrays(np.random.default_rng(5))
    arrays["test_image"] = arrays["test_image"][:-1]
    with pytest.raises(MorphalignError, match="test_image"):
        evaluate(arrays)


def test_binary_f1_scores_the_positive_class():
    from sklearn.metrics import f1_score

    arrays = _uninformative_text(np.random.default_rng(6))  # a text probe that errs
    table = predictions(arrays)
    y, pred = table["label"], table["linear_probe_text_pred"]
    binary = evaluate(arrays, EvalSettings(f1_average="binary"), table)
    macro = evaluate(arrays, EvalSettings(), table)
    assert binary["linear_probe_f1_text"] == pytest.approx(f1_score(y, pred, average="binary"))
    assert macro["linear_probe_f1_text"] == pytest.approx(f1_score(y, pred, average="macro"))
    zero = evaluate(arrays, EvalSettings(f1_average="binary", positive_class=0), table)
    assert zero["linear_probe_f1_text"] == pytest.approx(f1_score(y, pred, average="binary", pos_label=0))


def test_torch_adam_probe_learns_and_repeats(tmp_path):
    arrays = _arrays(np.random.default_rng(7))
    settings = EvalSettings(probe="torch_adam", probe_epochs=100, probe_lr=1e-2)
    a, b = predictions(arrays, settings), predictions(arrays, settings)
    pd.testing.assert_frame_equal(a, b)  # seeded, full batch: identical
    assert (a["linear_probe_image_pred"] == a["label"]).all()
    assert not np.allclose(a["linear_probe_image_score"], predictions(arrays)["linear_probe_image_score"])
    np.savez(tmp_path / "E.npz", **arrays)
    args = ["--embeddings", str(tmp_path / "E.npz"), "--out", str(tmp_path / "M.json"), "--probe", "torch_adam"]
    assert main([*args, "--f1-average", "binary"]) == 0
    assert json.loads((tmp_path / "M.json").read_text())["linear_probe_f1_image"] == 1.0
    with pytest.raises(MorphalignError, match=r"evaluate\.probe must be"):
        predictions(arrays, EvalSettings(probe="svm"))


def test_shuffled_test_baseline_breaks_every_pair():
    from morphalign.evaluate.metrics import shuffled_test_baseline

    rng = np.random.default_rng(5)
    image = rng.normal(size=(30, 8))
    labels = np.arange(30) % 2
    perfect = evaluate({**_arrays(rng, n_test=30, d=8), "test_image": image, "test_text": image, "test_label": labels})
    assert perfect["recall_at_1"] == 1.0 and perfect["mean_cosine"] == pytest.approx(1.0)
    base = shuffled_test_baseline(image, image, labels)
    assert base["shuffled_test_recall_at_1"] == 0.0  # a derangement: no image keeps its own caption
    assert base["shuffled_test_mean_cosine"] < 0.5
    assert base == shuffled_test_baseline(image, image, labels)  # one fixed permutation
    assert perfect["shuffled_test_recall_at_1"] == 0.0
