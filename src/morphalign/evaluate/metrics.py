"""Metrics of paired image and text embeddings: probes, alignment and retrieval.

`evaluate()` takes the arrays of an embeddings file (see `artifacts`) and returns flat metrics:

- `linear_probe_f1_{image,text,concat}`: `LogisticRegression(max_iter=5000)` on `StandardScaler`ed raw features,
  fit on train, macro F1 on test (`EvalSettings` selects binary F1 and the reference code's torch Adam probe).
  `concat` is `[image, text]`. The text probe really is fitted on text features (the reference code fitted its
  "text" probe on image features; we do not copy that bug).
- `knn_f1_{image,text,concat}`: `KNeighborsClassifier(n_neighbors=5, metric="cosine")`, fit on train, macro F1 on
  test. `concat` joins the L2-normalised image and text features.
- `mean_cosine`: the mean over test pairs of cos(image_i, text_i).
- `recall_at_1`, `recall_at_5` (and `_i2t`, `_t2i`): the fraction of test queries whose own pair ranks first (in
  the top 5) by cosine among all test items of the other modality, averaged over both directions.
- `class_recall_at_1` (and `_i2t`, `_t2i`): the fraction whose top-1 retrieved item has the query's label.
- `chance_*`: the chance level of each retrieval metric for this test set, so 0.03 can be told from noise.
- `zeroshot_{f1,accuracy}_{prompts,centroids}`: classification with no probe, as CLIP does: each test image gets
  the class whose text embedding is nearest by cosine. `prompts`: the class prompts (templates x class
  descriptions from config, embedded by the run's text tower, each L2-normalised, averaged per class; the
  `class_text` array of the embeddings file). `centroids`: the mean L2-normalised training-caption embedding of
  each class, the prompt-less baseline.
- the geometry of the test pairs (`evaluate.geometry`).
- `shuffled_test_{mean_cosine,recall_at_1,recall_at_5}`: the same with the test captions permuted by one fixed
  derangement, so no image keeps its own caption: the level a metric falls to when captions carry nothing about
  their own image.

`predictions()` gives the per-image table behind these numbers (format in `morphalign.scores`); the probe F1s and the
mean cosine are computed from it, so a bootstrap over its rows reproduces them exactly.

Ties in a ranking are broken by the lower index: a candidate ranks above another with the same cosine when its row
index is lower (a stable sort of the negated similarities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from morphalign.artifacts import check_embeddings
from morphalign.errors import MorphalignError
from morphalign.evaluate.geometry import MUTUAL_KNN_K, geometry
from morphalign.evaluate.probes import TorchAdamProbe, knn, logistic
from morphalign.scores import FEATURES, PROBES, ZERO_SHOT, f1, metric_function
from morphalign.vectors import cosine_matrix, l2_normalize


def ranks(sim: np.ndarray) -> np.ndarray:
    """Rank (0 = first) of each query's own pair among its row; ties go to the lower index."""
    order = np.argsort(-sim, axis=1, kind="stable")
    return np.argmax(order == np.arange(len(sim))[:, None], axis=1)


def retrieval(image: np.ndarray, text: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Instance Recall@1 / @5 and class-level Recall@1, in both directions and averaged."""
    sim = cosine_matrix(image, text)
    out: dict[str, float] = {}
    for name, s in (("i2t", sim), ("t2i", sim.T)):
        r = ranks(s)
        out[f"recall_at_1_{name}"] = float(np.mean(r < 1))
        out[f"recall_at_5_{name}"] = float(np.mean(r < 5))
        top1 = np.argsort(-s, axis=1, kind="stable")[:, 0]
        out[f"class_recall_at_1_{name}"] = float(np.mean(labels[top1] == labels))
    for key in ("recall_at_1", "recall_at_5", "class_recall_at_1"):
        out[key] = (out[f"{key}_i2t"] + out[f"{key}_t2i"]) / 2.0
    return out


def chance_levels(labels: np.ndarray) -> dict[str, float]:
    """Expected retrieval scores of a random ranking on this test set."""
    n = len(labels)
    _, counts = np.unique(labels, return_counts=True)
    p = counts / n
    return {
        "chance_recall_at_1": 1.0 / n,
        "chance_recall_at_5": min(5, n) / n,
        "chance_class_recall_at_1": float(np.sum(p**2)),
    }


def _fit_predict(model, x_train, y_train, x_test) -> tuple[np.ndarray, np.ndarray]:
    """Fit, then each test item's predicted class and the probability the model gives that class."""
    model.fit(x_train, y_train)
    pred = model.predict(x_test)
    proba = model.predict_proba(x_test)
    column = np.searchsorted(model.classes_, pred)
    return pred.astype(int), proba[np.arange(len(pred)), column]


@dataclass(frozen=True)
class EvalSettings:
    """How the probes are fitted and scored (the workflow's `evaluate` section)."""

    knn_k: int = 5
    f1_average: str = "macro"  # or "binary": the F1 of positive_class alone, as the reference code scored
    positive_class: int = 1
    probe: str = "logistic"  # or "torch_adam": the reference code's torch linear layer
    probe_epochs: int = 200
    probe_lr: float = 1e-3
    mutual_knn_k: int = MUTUAL_KNN_K  # neighbours compared by the mutual k-NN of the geometry measures

    def linear_probe(self):
        if self.probe == "logistic":
            return logistic()
        if self.probe == "torch_adam":
            return TorchAdamProbe(self.probe_epochs, self.probe_lr)
        raise MorphalignError(f"evaluate.probe must be 'logistic' or 'torch_adam', got {self.probe!r}")


def linear_probe_f1(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    return float(f1(y_test, _fit_predict(logistic(), x_train, y_train, x_test)[0]))


def knn_f1(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, k: int = 5) -> float:
    return float(f1(y_test, _fit_predict(knn(k), x_train, y_train, x_test)[0]))


def predictions(arrays: dict[str, np.ndarray], settings: EvalSettings | None = None) -> pd.DataFrame:
    """The per-image predictions table (format in `morphalign.scores`) of one set of embeddings."""
    settings = settings or EvalSettings()
    check_embeddings(arrays, "embeddings")
    if settings.knn_k > len(arrays["train_label"]):
        raise MorphalignError(
            f"evaluate.knn_k is {settings.knn_k} but the training pool holds {len(arrays['train_label'])} "
            "embeddings; use at most that many neighbours"
        )
    ytr, yte = arrays["train_label"].astype(int), arrays["test_label"].astype(int)
    feats = {
        "image": (arrays["train_image"], arrays["test_image"]),
        "text": (arrays["train_text"], arrays["test_text"]),
        "concat": (
            np.hstack([arrays["train_image"], arrays["train_text"]]),
            np.hstack([arrays["test_image"], arrays["test_text"]]),
        ),
    }
    knn_feats = dict(feats)
    knn_feats["concat"] = (
        np.hstack([l2_normalize(arrays["train_image"]), l2_normalize(arrays["train_text"])]),
        np.hstack([l2_normalize(arrays["test_image"]), l2_normalize(arrays["test_text"])]),
    )
    table: dict[str, np.ndarray] = {}
    if "test_id" in arrays:
        table["id"] = np.asarray(arrays["test_id"])
    table["label"] = yte
    for probe, sets, make in (
        ("linear_probe", feats, settings.linear_probe),
        ("knn", knn_feats, lambda: knn(settings.knn_k)),
    ):
        for name, (tr, te) in sets.items():
            table[f"{probe}_{name}_pred"], table[f"{probe}_{name}_score"] = _fit_predict(make(), tr, ytr, te)
    centroids = np.stack([l2_normalize(arrays["train_text"][ytr == c]).mean(axis=0) for c in np.unique(ytr)])
    classes = {"centroids": (centroids, np.unique(ytr))}
    if "class_text" in arrays:
        classes["prompts"] = (arrays["class_text"], np.arange(len(arrays["class_text"])))
    for method in ZERO_SHOT:
        if method in classes:
            vectors, names = classes[method]
            sims = cosine_matrix(arrays["test_image"], vectors)
            best = np.argmax(sims, axis=1)
            table[f"zeroshot_{method}_pred"] = names[best]
            table[f"zeroshot_{method}_cosine"] = sims[np.arange(len(best)), best]
    sim = cosine_matrix(arrays["test_image"], arrays["test_text"])
    table["cosine"] = np.diag(sim).copy()
    for name, s in (("i2t", sim), ("t2i", sim.T)):
        table[f"rank_{name}"] = ranks(s)
        table[f"top1_label_{name}"] = yte[np.argsort(-s, axis=1, kind="stable")[:, 0]]
    return pd.DataFrame(table)


SHUFFLE_SEED = 0  # one fixed permutation, the same for every run, so runs compare on the same mismatch


def shuffled_test_baseline(image: np.ndarray, text: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean cosine and retrieval with the test captions permuted (a fixed derangement): what the metrics give
    when no image has its own caption. Pair metrics near this baseline carry no instance information."""
    rng = np.random.default_rng(SHUFFLE_SEED)
    n = len(labels)
    perm = rng.permutation(n)
    while n > 1 and np.any(perm == np.arange(n)):  # a derangement: no caption stays with its image
        perm = rng.permutation(n)
    shuffled = retrieval(image, text[perm], labels)
    return {
        "shuffled_test_mean_cosine": float(np.mean(np.diag(cosine_matrix(image, text[perm])))),
        **{f"shuffled_test_{k}": shuffled[k] for k in ("recall_at_1", "recall_at_5")},
    }


def evaluate(
    arrays: dict[str, np.ndarray], settings: EvalSettings | None = None, table: pd.DataFrame | None = None
) -> dict[str, float]:
    """All metrics for one set of embeddings (see the module docstring), from its predictions table."""
    settings = settings or EvalSettings()
    table = predictions(arrays, settings) if table is None else table
    everything = np.arange(len(table))
    out: dict[str, float] = {}
    for probe in PROBES:
        for name in FEATURES:
            key = f"{probe}_f1_{name}"
            f1_of = metric_function(key, settings.f1_average, settings.positive_class)
            out[key] = float(f1_of(table, everything))
    for method in ZERO_SHOT:
        if f"zeroshot_{method}_pred" in table:
            key = f"zeroshot_f1_{method}"
            out[key] = float(metric_function(key, settings.f1_average, settings.positive_class)(table, everything))
            out[f"zeroshot_accuracy_{method}"] = float(np.mean(table[f"zeroshot_{method}_pred"] == table["label"]))
    out["mean_cosine"] = float(metric_function("mean_cosine")(table, everything))
    out.update(retrieval(arrays["test_image"], arrays["test_text"], table["label"].to_numpy()))
    out.update(chance_levels(table["label"].to_numpy()))
    out.update(shuffled_test_baseline(arrays["test_image"], arrays["test_text"], table["label"].to_numpy()))
    k = min(settings.mutual_knn_k, len(table) - 1)  # a test set smaller than k + 1 caps it (recorded)
    out.update(geometry(arrays["test_image"], arrays["test_text"], k))
    out["mutual_knn_k"] = float(k)
    return out
