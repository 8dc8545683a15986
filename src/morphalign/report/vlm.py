"""The generative-VLM classification baseline beside the SigLIP probes: `results/tables/classify.{csv,md}`.

Per classify run (`classify` stage): accuracy, macro F1 and binary F1 (class 1) on the test images, each with a
95 % percentile interval from a bootstrap over test images (the resamples, seed and confidence of
`report.uncertainty`, one stream per run and metric), and the count of errors (unparsable answers and failed
requests, scored as wrong). Below them, for the same test images, the SigLIP linear probes of the main prompt:
macro F1 on image and on text embeddings, per target, mean over seeds (their intervals are in Table 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morphalign.io import atomic_path, read_json, write_csv
from morphalign.report.aggregate import stream
from morphalign.report.uncertainty import _interval
from morphalign.scores import f1

METRICS = ("accuracy", "macro_f1", "binary_f1")


def _metric(name: str, labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The metric over the last axis; an error (-1) is wrong and counts as no class."""
    if name == "accuracy":
        return np.mean(predicted == labels, axis=-1)
    if name == "binary_f1":
        return np.asarray(f1(labels, predicted, "binary", 1))
    return (np.asarray(f1(labels, predicted, "binary", 0)) + np.asarray(f1(labels, predicted, "binary", 1))) / 2


def bootstrap(labels: np.ndarray, predicted: np.ndarray, name: str, resamples: int, rng, confidence: float):
    idx = rng.integers(0, len(labels), size=(resamples, len(labels)))
    return _interval(_metric(name, labels[idx], predicted[idx]), confidence)


def classify_table(
    metrics: list[str | Path],
    predictions: list[str | Path],
    runs_csv: str | Path,
    main_prompt: str,
    uncertainty: Mapping[str, Any],
    out_csv: str | Path,
    out_md: str | Path,
) -> pd.DataFrame:
    rows = []
    for m_path, p_path in zip(metrics, predictions, strict=True):
        m = read_json(m_path)
        table = pd.read_csv(p_path)
        y, p = table["label"].to_numpy(), table["predicted"].to_numpy()
        for name in METRICS:
            value = float(_metric(name, y, p))
            rng = stream(int(uncertainty["seed"]), "classify", m["name"], name)
            low, high = bootstrap(y, p, name, int(uncertainty["resamples"]), rng, float(uncertainty["confidence"]))
            rows.append(
                {
                    "method": f"{m['model']}, {m['shots']}-shot",
                    "run": m["name"],
                    "metric": name,
                    "value": value,
                    "low": low,
                    "high": high,
                    "n": len(y),
                    "errors": int(np.sum(p < 0)),
                    "source": str(m_path),
                }
            )
    runs = pd.read_csv(runs_csv)
    probes = runs[(runs.prompt == main_prompt) & runs.metric.isin(["linear_probe_f1_image", "linear_probe_f1_text"])]
    for (target, metric), group in probes.groupby(["target", "metric"], sort=False):
        feature = metric.removeprefix("linear_probe_f1_")
        rows.append(
            {
                "method": f"SigLIP {target}, linear probe on {feature} ({main_prompt})",
                "run": f"{main_prompt}/{target}",
                "metric": "macro_f1",
                "value": float(group["value"].mean()),
                "n": None,
                "errors": None,
                "source": "tables/runs.csv",
            }
        )
    out = pd.DataFrame(rows)
    write_csv(out_csv, out)
    with atomic_path(out_md) as tmp:
        tmp.write_text(_markdown(out, uncertainty))
    return out


def _markdown(table: pd.DataFrame, uncertainty: Mapping[str, Any]) -> str:
    level = f"{float(uncertainty['confidence']):.0%}"
    lines = [
        f"**VLM classification.** Test images; brackets: {level} bootstrap interval over test images "
        f"({uncertainty['resamples']} draws, seed {uncertainty['seed']}). Errors (unparsable answers, failed "
        "requests) are scored as wrong. SigLIP rows: linear-probe macro F1, mean over seeds (intervals in Table 1).",
        "",
        "| Method | Accuracy | Macro F1 | Binary F1 (class 1) | Errors |",
        "|---|---|---|---|---|",
    ]
    vlm = table[table["n"].notna()]
    for _, g in vlm.groupby("run", sort=False):
        cells = {r.metric: f"{r.value:.3f} [{r.low:.3f}, {r.high:.3f}]" for r in g.itertuples()}
        first = g.iloc[0]
        lines.append(
            f"| {first.method} | {cells['accuracy']} | {cells['macro_f1']} | {cells['binary_f1']} | "
            f"{int(first.errors)} of {int(first.n)} |"
        )
    for r in table[table["n"].isna()].itertuples():
        lines.append(f"| {r.method} | – | {r.value:.3f} | – | – |")
    return "\n".join(lines) + "\n"
