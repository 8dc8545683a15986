"""Evaluation of paired image and text embeddings: probes, alignment and retrieval.

`python -m morphalign.evaluate --embeddings E.npz --out M.json` reads float arrays `train_image, train_text,
test_image, test_text` and int arrays `train_label, test_label` (row i of an image array pairs with row i of the
matching text array) and writes flat JSON:

- `linear_probe_f1_{image,text,concat}`: `LogisticRegression(max_iter=5000)` on `StandardScaler`ed raw features,
  fit on train, macro F1 on test. `concat` is `[image, text]`. The text probe really is fitted on text features
  (the reference code fitted its "text" probe on image features; we do not copy that bug).
- `knn_f1_{image,text,concat}`: `KNeighborsClassifier(n_neighbors=5, metric="cosine")`, fit on train, macro F1 on
  test. `concat` joins the L2-normalised image and text features.
- `mean_cosine`: the mean over test pairs of cos(image_i, text_i).
- `recall_at_1`, `recall_at_5` (and `_i2t`, `_t2i`): the fraction of test queries whose own pair ranks first (in
  the top 5) by cosine among all test items of the other modality, averaged over both directions.
- `class_recall_at_1` (and `_i2t`, `_t2i`): the fraction whose top-1 retrieved item has the query's label.
- `chance_*`: the chance level of each retrieval metric for this test set, so 0.03 can be told from noise.

Ties in a ranking are broken by the lower index: a candidate ranks above another with the same cosine when its row
index is lower (a stable sort of the negated similarities).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from morphalign.errors import MorphalignError
from morphalign.io import read_json, write_json
from morphalign.scripting import run_cli

ARRAYS = ("train_image", "train_text", "test_image", "test_text", "train_label", "test_label")


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a_i, b_j) for all pairs."""
    return l2_normalize(a.astype(np.float64)) @ l2_normalize(b.astype(np.float64)).T


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


def _f1(model, x_train, y_train, x_test, y_test) -> float:
    from sklearn.metrics import f1_score

    model.fit(x_train, y_train)
    return float(f1_score(y_test, model.predict(x_test), average="macro"))


def linear_probe_f1(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return _f1(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)), x_train, y_train, x_test, y_test)


def knn_f1(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, k: int = 5) -> float:
    from sklearn.neighbors import KNeighborsClassifier

    return _f1(KNeighborsClassifier(n_neighbors=k, metric="cosine"), x_train, y_train, x_test, y_test)


def check_arrays(arrays: dict[str, np.ndarray], where: str) -> None:
    """Fail naming the array when the embeddings file is incomplete or inconsistent."""
    missing = [k for k in ARRAYS if k not in arrays]
    if missing:
        raise MorphalignError(f"{where}: missing array(s) {missing}")
    for split in ("train", "test"):
        n = len(arrays[f"{split}_label"])
        for kind in ("image", "text"):
            a = arrays[f"{split}_{kind}"]
            if a.ndim != 2 or len(a) != n:
                raise MorphalignError(f"{where}: {split}_{kind} has shape {a.shape}, expected ({n}, d)")
            if not np.all(np.isfinite(a)):
                raise MorphalignError(f"{where}: {split}_{kind} holds non-finite values")
    if len(arrays["test_label"]) < 2:
        raise MorphalignError(f"{where}: need at least 2 test rows")


def evaluate(arrays: dict[str, np.ndarray], knn_k: int = 5) -> dict[str, float]:
    """All metrics for one set of embeddings (see the module docstring)."""
    check_arrays(arrays, "embeddings")
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
    out: dict[str, float] = {}
    for name, (tr, te) in feats.items():
        out[f"linear_probe_f1_{name}"] = linear_probe_f1(tr, ytr, te, yte)
    for name, (tr, te) in knn_feats.items():
        out[f"knn_f1_{name}"] = knn_f1(tr, ytr, te, yte, k=knn_k)
    pair_cos = np.sum(
        l2_normalize(arrays["test_image"].astype(np.float64)) * l2_normalize(arrays["test_text"].astype(np.float64)),
        axis=1,
    )
    out["mean_cosine"] = float(pair_cos.mean())
    out.update(retrieval(arrays["test_image"], arrays["test_text"], yte))
    out.update(chance_levels(yte))
    return out


def load_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError as exc:
        raise MorphalignError(f"{path}: file not found") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise MorphalignError(f"{path}: not a readable .npz ({exc})") from exc
    check_arrays(arrays, str(path))
    return arrays


def provenance(run: dict[str, Any] | None, train_log: dict[str, Any] | None) -> dict[str, Any]:
    """What a metrics file records about how it was made."""
    from morphalign.provenance import library_versions

    versions = library_versions()
    log = train_log or {}
    return {
        "prompt": (run or {}).get("prompt"),
        "target": (run or {}).get("target"),
        "seed": (run or {}).get("seed"),
        "package_version": versions["morphalign"],
        "versions": versions,
        "device": log.get("device", "cpu"),
        "epochs_trained": log.get("epochs_trained", 0),
        "best_val_loss": log.get("best_val_loss"),
        "train_wall_time_s": log.get("wall_time_s", 0.0),
        "trainable_fraction": log.get("trainable_fraction", 0.0),
        "config": run,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--embeddings", required=True, help="E.npz with the six arrays")
    ap.add_argument("--out", required=True, help="metrics JSON to write")
    ap.add_argument("--run-config", default=None, help="per-run JSON to record as provenance")
    ap.add_argument("--train-log", default=None, help="training log to record epochs, best loss and time from")
    ap.add_argument("--knn-k", type=int, default=5)
    args = ap.parse_args(argv)

    def body() -> None:
        metrics: dict[str, Any] = evaluate(load_embeddings(args.embeddings), knn_k=args.knn_k)
        run = read_json(args.run_config) if args.run_config else None
        log = read_json(args.train_log) if args.train_log else None
        if run is not None or log is not None:
            metrics.update(provenance(run, log))
            if metrics["config"] is not None:
                metrics["config"] = {**metrics["config"], "evaluate": {"knn_k": args.knn_k}}
        write_json(args.out, metrics)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
