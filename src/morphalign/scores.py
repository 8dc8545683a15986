"""Table 1's metrics computed from per-image predictions, over any resampling of the test images.

A **predictions table** (`predictions.csv`, written by `evaluate` beside `metrics.json`, read by `report`) has one
row per test image, in the embeddings' test order:

- `id` (when the embeddings carry ids) and `label` (the true class, an integer);
- `{probe}_{features}_pred` and `{probe}_{features}_score` for probe `linear_probe` or `knn` and features `image`,
  `text` or `concat`: the predicted class and the probability the probe gives it (for k-NN, the share of the k
  neighbours that voted for it);
- `cosine`: cos(image_i, text_i) of the image's own pair;
- `rank_i2t`, `rank_t2i`: the rank (0 = first) of the true partner when the image queries all test texts, and when
  its text queries all test images (ties go to the lower index, as in `evaluate`);
- `top1_label_i2t`, `top1_label_t2i`: the class of that query's top hit;
- `zeroshot_{prompts,centroids}_pred` and `_cosine`: the class whose text embedding is nearest the image, and
  that cosine; `prompts` uses the class prompts' ensembled embeddings (present when the embeddings carry
  `class_text`), `centroids` the mean training-caption embedding of each class (always).

Every function below takes index arrays `idx` of shape (..., n) (rows of the table, with repeats, as a bootstrap
draws them) and returns the metric for each leading index, so R resamples cost one vectorised call. With
`idx = arange(n)` the values equal the ones `evaluate` writes to `metrics.json` (a test checks this).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

PROBES = ("linear_probe", "knn")
FEATURES = ("image", "text", "concat")
ZERO_SHOT = ("prompts", "centroids")  # zero-shot classifiers: class prompts, training-caption class centroids
RETRIEVAL_COLUMNS = ("cosine", "rank_i2t", "rank_t2i", "top1_label_i2t", "top1_label_t2i")


def f1(
    labels: np.ndarray,
    preds: np.ndarray,
    average: str = "macro",
    positive: int = 1,
    classes: np.ndarray | None = None,
) -> np.ndarray | float:
    """F1 over the last axis, as scikit-learn's `f1_score` (zero where a class has no support and no prediction).

    `average="macro"`: the mean over the classes that occur in `labels` or `preds` of each class's F1.
    `average="binary"`: the F1 of class `positive` alone.
    `classes`: for macro, any superset of those classes, sorted (a class that occurs in neither adds exactly nothing);
    a resampling passes the classes of the rows it draws from, so as not to search its R x n arrays for them.
    """
    if average not in ("macro", "binary"):
        raise ValueError(f"f1 average must be 'macro' or 'binary', not {average!r}")
    labels, preds = np.asarray(labels), np.asarray(preds)
    if average == "binary":
        classes = [positive]
    elif classes is None:
        classes = np.union1d(np.unique(labels), np.unique(preds))
    total = np.zeros(np.broadcast_shapes(labels.shape, preds.shape)[:-1])
    present = np.zeros_like(total)
    for c in classes:
        tp = np.sum((preds == c) & (labels == c), axis=-1)
        fp = np.sum((preds == c) & (labels != c), axis=-1)
        fn = np.sum((preds != c) & (labels == c), axis=-1)
        denom = 2 * tp + fp + fn
        total += np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
        present += denom > 0
    out = total if average == "binary" else total / np.maximum(present, 1)
    return float(out) if out.ndim == 0 else out


Metric = Callable[[pd.DataFrame, np.ndarray], np.ndarray]


def metric_function(key: str, average: str = "macro", positive: int = 1) -> Metric:
    """The function computing metric `key` (a Table 1 row) of a predictions table on index arrays."""
    column = classifier_column(key)  # a probe's or a zero-shot classifier's predictions
    if column is not None:

        def classifier_f1(t: pd.DataFrame, idx: np.ndarray, c: str = column) -> np.ndarray:
            labels, preds = t["label"].to_numpy(), t[c].to_numpy()
            classes = np.union1d(labels, preds)  # of the table's n rows: every resample draws from them
            return f1(labels[idx], preds[idx], average=average, positive=positive, classes=classes)

        return classifier_f1
    if key == "mean_cosine":
        return lambda t, idx: t["cosine"].to_numpy()[idx].mean(axis=-1)
    for k, name in ((1, "recall_at_1"), (5, "recall_at_5")):
        if key == name:
            return lambda t, idx, k=k: (
                0.5
                * (
                    np.mean(t["rank_i2t"].to_numpy()[idx] < k, axis=-1)
                    + np.mean(t["rank_t2i"].to_numpy()[idx] < k, axis=-1)
                )
            )
    if key == "class_recall_at_1":

        def class_recall(t: pd.DataFrame, idx: np.ndarray) -> np.ndarray:
            y = t["label"].to_numpy()[idx]
            hits = [np.mean(t[f"top1_label_{d}"].to_numpy()[idx] == y, axis=-1) for d in ("i2t", "t2i")]
            return 0.5 * (hits[0] + hits[1])

        return class_recall
    raise KeyError(f"no per-image definition of metric {key!r}")


def classifier_column(key: str) -> str | None:
    """The prediction column of a probe metric, or None for alignment and retrieval metrics."""
    for probe in PROBES:
        for feats in FEATURES:
            if key == f"{probe}_f1_{feats}":
                return f"{probe}_{feats}_pred"
    for method in ZERO_SHOT:
        if key == f"zeroshot_f1_{method}":
            return f"zeroshot_{method}_pred"
    return None


def chance(key: str, labels: np.ndarray, average: str = "macro", positive: int = 1) -> float | None:
    """The expected value of metric `key` for a guess that ignores the inputs (None for the mean cosine).

    Probes: guessing each class at its test frequency p_c gives an expected per-class F1 of about p_c, so macro F1
    1/C and binary F1 p_positive. Retrieval: a random ranking of n candidates gives 1/n and min(5, n)/n, and a
    random top hit has the query's class with probability sum p_c^2.
    """
    labels = np.asarray(labels)
    n = len(labels)
    _, counts = np.unique(labels, return_counts=True)
    p = counts / n
    if classifier_column(key) is not None:
        return float(np.mean(labels == positive)) if average == "binary" else 1.0 / len(counts)
    return {
        "recall_at_1": 1.0 / n,
        "recall_at_5": min(5, n) / n,
        "class_recall_at_1": float(np.sum(p**2)),
    }.get(key)
