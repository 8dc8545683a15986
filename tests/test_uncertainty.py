"""Intervals, paired tests and the per-image metric definitions, against answers known by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from morphalign.evaluate.metrics import evaluate, predictions
from morphalign.report.uncertainty import (
    Arm,
    bootstrap_cell,
    bootstrap_difference,
    holm,
    mcnemar,
    permutation_test,
)
from morphalign.scores import chance, f1, metric_function

ROWS = [
    "linear_probe_f1_image", "linear_probe_f1_text", "linear_probe_f1_concat", "knn_f1_image", "knn_f1_text",
    "knn_f1_concat", "mean_cosine", "recall_at_1", "recall_at_5", "class_recall_at_1",
]  # fmt: skip
MEAN = metric_function("mean_cosine")


def _arm(*columns: np.ndarray) -> Arm:
    """An arm with one run per column, whose per-image value is that column (read through the cosine metric)."""
    tables = tuple(pd.DataFrame({"label": np.zeros(len(c), int), "cosine": c}) for c in columns)
    return Arm("p/t", tables, tuple(f"run{i}" for i in range(len(columns))))


@pytest.mark.parametrize("average", ["macro", "binary"])
def test_f1_matches_scikit_learn_per_resample(average):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=(50, 30))
    preds = rng.integers(0, 2, size=(50, 30))
    preds[0] = 1  # one class never predicted in row 0
    expected = [
        f1_score(y, p, average=average, pos_label=1, zero_division=0) for y, p in zip(labels, preds, strict=True)
    ]
    np.testing.assert_allclose(f1(labels, preds, average=average), expected, rtol=0, atol=1e-12)


def test_f1_given_a_superset_of_the_classes_is_bit_identical():
    """A resampling passes the classes of the rows it draws from: a class absent from every resample (here 2, and
    class 1 from row 0's labels) adds exactly nothing, so the values equal those of classes found in the arrays."""
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 2, size=(2, 40))  # the table: labels and predictions of 40 images
    idx = rng.integers(0, 40, size=(200, 40))
    labels, preds = rows[0][idx], rows[1][idx]
    labels[0] = 0
    found = f1(labels, preds)
    assert np.array_equal(f1(labels, preds, classes=np.array([0, 1, 2])), found)
    assert np.array_equal(
        metric_function("knn_f1_image")(pd.DataFrame({"label": rows[0], "knn_image_pred": rows[1]}), idx),
        f1(rows[0][idx], rows[1][idx]),
    )


def test_binary_and_macro_f1_by_hand():
    y = np.array([1, 1, 1, 0, 0])
    p = np.array([1, 1, 0, 0, 1])
    # class 1: tp 2, fp 1, fn 1 -> 4/6; class 0: tp 1, fp 1, fn 1 -> 2/4
    assert f1(y, p, average="binary") == pytest.approx(2 / 3)
    assert f1(y, p, average="binary", positive=0) == pytest.approx(0.5)
    assert f1(y, p) == pytest.approx((2 / 3 + 0.5) / 2)
    with pytest.raises(ValueError, match="'micro'"):
        f1(y, p, average="micro")


def test_predictions_reproduce_every_table_metric():
    rng = np.random.default_rng(1)
    ytr, yte = np.arange(60) % 2, np.arange(25) % 2
    arrays = {
        "train_image": rng.normal(size=(60, 5)) + ytr[:, None],
        "train_text": rng.normal(size=(60, 5)) - ytr[:, None],
        "test_image": rng.normal(size=(25, 5)) + yte[:, None],
        "test_text": rng.normal(size=(25, 5)) - yte[:, None],
        "train_label": ytr,
        "test_label": yte,
    }
    table = predictions(arrays)
    metrics = evaluate(arrays, table=table)
    everything = np.arange(len(table))
    for key in ROWS:
        assert metric_function(key)(table, everything) == pytest.approx(metrics[key], abs=1e-12), key
    assert ((table.filter(like="_score") > 0.0) & (table.filter(like="_score") <= 1.0)).all().all()


def test_chance_levels_by_hand():
    y = np.array([0, 0, 0, 1])
    assert chance("knn_f1_text", y) == 0.5
    assert chance("knn_f1_text", y, average="binary") == 0.25
    assert chance("recall_at_5", y) == 1.0 and chance("recall_at_1", y) == 0.25
    assert chance("class_recall_at_1", y) == pytest.approx(0.75**2 + 0.25**2)
    assert chance("mean_cosine", y) is None


def test_bootstrap_interval_of_a_proportion():
    # 400 images, half right: the interval of a proportion is 0.5 +- 1.96 * sqrt(0.25 / 400) = [0.451, 0.549]
    arm = _arm(np.repeat([0.0, 1.0], 200))
    low, high = bootstrap_cell(arm, MEAN, 4000, np.random.default_rng(0))
    assert low == pytest.approx(0.451, abs=0.006) and high == pytest.approx(0.549, abs=0.006)


def test_hierarchical_bootstrap_resamples_seeds():
    # two seeds scoring 0 and 1 on every image: a draw of two seeds averages 0 (p 1/4), 0.5 (1/2) or 1 (1/4)
    arm = _arm(np.zeros(30), np.ones(30))
    low, high = bootstrap_cell(arm, MEAN, 2000, np.random.default_rng(0))
    assert (low, high) == (0.0, 1.0)


def test_paired_difference_cancels_shared_image_noise():
    # B is A plus 0.1 on every image: paired, the difference is exactly 0.1 whatever images are drawn
    values = np.random.default_rng(0).normal(size=80)
    low, high = bootstrap_difference(_arm(values + 0.1), _arm(values), MEAN, 500, np.random.default_rng(1))
    assert low == pytest.approx(0.1) and high == pytest.approx(0.1)
    assert bootstrap_cell(_arm(values), MEAN, 500, np.random.default_rng(1))[1] > 0.1  # unpaired: image noise


def test_exact_permutation_p_values_by_hand():
    # per-image differences (1, 1, 1): of the 8 sign patterns, only all-plus and all-minus reach |mean| = 1
    assert permutation_test(_arm(np.ones(3)), _arm(np.zeros(3)), MEAN, 9999, np.random.default_rng(0)) == 0.25
    # (2, 0, 0, 0): every pattern has |mean| 0.5, so p = 1
    assert (
        permutation_test(_arm(np.array([2.0, 0, 0, 0])), _arm(np.zeros(4)), MEAN, 9999, np.random.default_rng(0)) == 1.0
    )
    same = np.random.default_rng(2).normal(size=6)
    assert permutation_test(_arm(same), _arm(same), MEAN, 9999, np.random.default_rng(0)) == 1.0


def test_monte_carlo_permutation_finds_a_clear_difference():
    rng = np.random.default_rng(3)
    base = rng.normal(size=100)
    p = permutation_test(_arm(base + 1.0), _arm(base), MEAN, 999, rng)
    assert p == pytest.approx(1 / 1000)  # no permutation reaches the observed shift: the smallest possible p
    noise = permutation_test(_arm(base + rng.normal(scale=0.01, size=100)), _arm(base), MEAN, 999, rng)
    assert noise > 0.05


def test_mcnemar_exact_by_hand():
    # 8 images only A gets right, 1 only B: p = 2 * P(X <= 1 | n=9, 1/2) = 2 * 10 / 512
    a = np.array([1] * 8 + [0] + [1] * 5, bool)
    b = np.array([0] * 8 + [1] + [1] * 5, bool)
    assert mcnemar(a, b) == pytest.approx(20 / 512)
    assert mcnemar(a, a) == 1.0


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
