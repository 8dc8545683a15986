"""Table 1 v2: the long table, intervals, paired tests and marks, on predictions built so the answer is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from morphalign.errors import MorphalignError
from morphalign.report.aggregate import Uncertainty, aggregate, collect

FAST = Uncertainty(resamples=500, permutations=999, seed=0)


def _predictions(labels: np.ndarray, correct: np.ndarray, cosine: float) -> pd.DataFrame:
    """A predictions table whose every probe is right exactly where `correct` is, with ranks to match."""
    pred = np.where(correct, labels, 1 - labels)
    table = {"id": [f"x{i}" for i in range(len(labels))], "label": labels}
    for probe in ("linear_probe", "knn"):
        for feats in ("image", "text", "concat"):
            table[f"{probe}_{feats}_pred"] = pred
            table[f"{probe}_{feats}_score"] = np.full(len(labels), 0.9)
    table["cosine"] = np.full(len(labels), cosine)
    table["rank_i2t"] = table["rank_t2i"] = np.where(correct, 0, 7)
    table["top1_label_i2t"] = table["top1_label_t2i"] = pred
    return pd.DataFrame(table)


def _run(tmp_path, prompt, target, seed, table):
    folder = tmp_path / "runs" / prompt / target / f"seed{seed}"
    folder.mkdir(parents=True)
    y = table["label"].to_numpy()
    metrics = {"prompt": prompt, "target": target, "seed": seed, "config": {"a": 1}, "versions": {"torch": "x"}}
    for probe in ("linear_probe", "knn"):
        for feats in ("image", "text", "concat"):
            pred = table[f"{probe}_{feats}_pred"].to_numpy()
            metrics[f"{probe}_f1_{feats}"] = float(
                np.mean([2 * np.sum((pred == c) & (y == c)) / (np.sum(pred == c) + np.sum(y == c)) for c in (0, 1)])
            )
    metrics["mean_cosine"] = float(table["cosine"].mean())
    metrics["recall_at_1"] = float(np.mean(table["rank_i2t"] < 1))
    metrics["recall_at_5"] = float(np.mean(table["rank_i2t"] < 5))
    metrics["class_recall_at_1"] = float(np.mean(table["top1_label_i2t"] == y))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    table.to_csv(folder / "predictions.csv", index=False)
    return folder / "metrics.json", folder / "predictions.csv"


def _sweep(tmp_path, n=120, seeds=2):
    """curated/full right on 95% of images, everything else on 60%: full must be bold and its gains starred."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    files = []
    for prompt in ("curated", "control"):
        files.append(_run(tmp_path, prompt, "frozen", 0, _predictions(labels, rng.random(n) < 0.6, 0.1)))
        for seed in range(seeds):
            good = prompt == "curated"
            correct = rng.random(n) < (0.95 if good else 0.6)
            files.append(_run(tmp_path, prompt, "full", seed, _predictions(labels, correct, 0.3 if good else 0.1)))
    return [m for m, _ in files], [p for _, p in files]


def _aggregate(tmp_path, metrics, predictions, ref="control", u=FAST, **scoring):
    out = {k: tmp_path / "out" / f"t.{k}" for k in ("runs", "csv", "md", "tex")}
    table = aggregate(metrics, predictions, out, "curated", ref, u, **scoring)
    return table, {k: v.read_text() if k in ("md", "tex") else None for k, v in out.items()}


def test_table1_v2_intervals_marks_and_chance(tmp_path):
    table, text = _aggregate(tmp_path, *_sweep(tmp_path))
    cells = table[table.kind == "cell"].set_index(["prompt", "target", "metric"])
    full = cells.loc["curated", "full", "knn_f1_image"]
    assert full["n_seeds"] == 2 and full["n_test"] == 120
    assert full["ci_low"] < full["mean"] < full["ci_high"] and full["ci_high"] - full["ci_low"] < 0.2
    assert full["bold"] and not cells.loc["curated", "frozen", "knn_f1_image"]["bold"]
    assert full["chance"] == 0.5 and cells.loc["curated", "full", "recall_at_1"]["chance"] == pytest.approx(1 / 120)

    diffs = table[table.kind == "difference"]
    assert len(diffs) == 10 * 3  # per row: curated - control for frozen and full, full - frozen
    gain = diffs[(diffs.metric == "knn_f1_image") & (diffs.target == "full") & (diffs.versus_target == "frozen")]
    assert gain["significant"].item() and gain["p_holm"].item() <= 30 / 1000
    same = diffs[(diffs.target == "frozen") & (diffs.versus_prompt == "control")]
    assert not same["significant"].any()  # both frozen arms guess at 60%: no difference to find
    assert (diffs["p_holm"] >= diffs["p"]).all()
    probes = same.metric.str.contains("f1")
    assert same[probes]["p_mcnemar"].notna().all() and same[~probes]["p_mcnemar"].isna().all()
    assert gain["p_mcnemar"].isna().all()  # McNemar only for probes with one run per arm

    md = text["md"]
    assert "| Metric | Chance | Frozen | Full |" in md and "120 test images; 2 seed(s)" in md
    row = next(line for line in md.splitlines() if line.startswith("| k-NN F1, image |"))
    assert "| 0.500 |" in row and row.count("**") == 2 and "[" in row
    assert "Table 1b" in md and "Table 1c" in md and "*" in md.split("Table 1c")[1]
    assert r"\textbf{" in text["tex"] and "$^*$" in text["tex"] and "`" not in text["tex"]
    long = pd.read_csv(tmp_path / "out" / "t.csv")
    assert {"ci_low", "ci_high", "p", "p_holm", "significant", "chance", "bold", "n_test"} <= set(long.columns)


def test_tables_are_reproducible_from_the_seed(tmp_path):
    metrics, predictions = _sweep(tmp_path, n=40, seeds=2)
    first, _ = _aggregate(tmp_path, metrics, predictions)
    again, _ = _aggregate(tmp_path, metrics[::-1], predictions[::-1])  # input order changes nothing
    key = ["kind", "metric", "prompt", "target", "versus_prompt", "versus_target"]
    pd.testing.assert_frame_equal(
        first.sort_values(key).reset_index(drop=True), again.sort_values(key).reset_index(drop=True)
    )
    # nor does dropping the reference prompt: each interval has its own random stream
    keep = [i for i, m in enumerate(metrics) if "control" not in str(m)]
    alone, _ = _aggregate(tmp_path, [metrics[i] for i in keep], [predictions[i] for i in keep])
    cells = ["metric", "target", "ci_low", "ci_high"]
    curated = first[(first.kind == "cell") & (first.prompt == "curated")][cells].reset_index(drop=True)
    pd.testing.assert_frame_equal(curated, alone[alone.kind == "cell"][cells].reset_index(drop=True))
    other = _aggregate(tmp_path, metrics, predictions, u=Uncertainty(resamples=500, permutations=999, seed=1))[0]
    assert not np.allclose(first.ci_low, other.ci_low)  # the seed does drive the resampling


def test_no_reference_prompt_means_no_table_1b(tmp_path):
    metrics, predictions = _sweep(tmp_path, n=40, seeds=1)
    keep = [i for i, m in enumerate(metrics) if "control" not in str(m)]
    _, text = _aggregate(tmp_path, [metrics[i] for i in keep], [predictions[i] for i in keep])
    assert "Table 1b" not in text["md"] and "Table 1c" in text["md"]


def test_runs_on_different_test_sets_are_named(tmp_path):
    metrics, predictions = _sweep(tmp_path, n=40, seeds=1)
    other = pd.read_csv(predictions[-1])
    other.loc[3, "id"] = "elsewhere"
    other.to_csv(predictions[-1], index=False)
    with pytest.raises(MorphalignError, match=r"control/full/seed0/predictions.csv: its test images"):
        _aggregate(tmp_path, metrics, predictions)


def test_missing_predictions_columns_named(tmp_path):
    metrics, predictions = _sweep(tmp_path, n=40, seeds=1)
    pd.read_csv(predictions[0]).drop(columns=["rank_t2i"]).to_csv(predictions[0], index=False)
    with pytest.raises(MorphalignError, match=r"predictions.csv: predictions table lacks column\(s\) \['rank_t2i'\]"):
        _aggregate(tmp_path, metrics, predictions)


def test_collect_skips_provenance_and_frozen_seed(tmp_path):
    metrics, _ = _sweep(tmp_path, n=40, seeds=1)
    long = collect(metrics)
    assert "config" not in set(long.metric) and long[long.target == "frozen"]["seed"].isna().all()


def test_missing_main_prompt(tmp_path):
    metrics, predictions = _sweep(tmp_path, n=40, seeds=1)
    keep = [i for i, m in enumerate(metrics) if "control" in str(m)]
    with pytest.raises(MorphalignError, match="main_prompt: no runs for prompt 'curated'"):
        _aggregate(tmp_path, [metrics[i] for i in keep], [predictions[i] for i in keep])


def test_binary_f1_tables_need_binary_metrics(tmp_path):
    metrics, predictions = _sweep(tmp_path, n=40, seeds=1)  # metrics files hold macro F1
    with pytest.raises(MorphalignError, match=r"linear_probe_f1_image from the predictions is .*\(f1_average"):
        _aggregate(tmp_path, metrics, predictions, f1_average="binary")
    for m, p in zip(metrics, predictions, strict=True):  # rewrite them as evaluate would with binary F1
        values = json.loads(m.read_text())
        table = pd.read_csv(p)
        for key in [k for k in values if "_f1_" in k]:
            probe, feats = key.split("_f1_")
            pred, y = table[f"{probe}_{feats}_pred"], table["label"]
            tp = ((pred == 1) & (y == 1)).sum()
            values[key] = float(2 * tp / ((pred == 1).sum() + (y == 1).sum()))
        m.write_text(json.dumps(values))
    table, text = _aggregate(tmp_path, metrics, predictions, f1_average="binary", positive=1)
    cells = table[table.kind == "cell"]
    assert (cells[cells.metric.str.contains("f1")]["chance"] == 0.5).all()  # half the test images are class 1
    assert "probes scored by binary F1 of class 1" in text["md"]


def test_table1d_compares_the_main_prompt_with_its_shuffled_controls(tmp_path):
    """curated/text right on 95% of images, its shuffled control on 60%, the within-class one on 95%: only the
    first difference is large and significant, and it is starred with Holm's correction over every difference."""
    rng = np.random.default_rng(1)
    n = 120
    labels = np.arange(n) % 2
    files = [_run(tmp_path, "curated", "frozen", 0, _predictions(labels, rng.random(n) < 0.6, 0.1))]
    for prompt, rate in (("curated", 0.95), ("curated_shuffled", 0.6), ("curated_shuffled_in_class", 0.95)):
        for seed in range(2):
            files.append(_run(tmp_path, prompt, "text", seed, _predictions(labels, rng.random(n) < rate, 0.2)))
    metrics, predictions = [m for m, _ in files], [p for _, p in files]
    out = {k: tmp_path / "out" / f"t.{k}" for k in ("runs", "csv", "md", "tex")}
    controls = ["curated_shuffled", "curated_shuffled_in_class", "not_run"]
    table = aggregate(metrics, predictions, out, "curated", None, FAST, controls=controls)
    d = table[(table.kind == "difference") & (table.metric == "knn_f1_image")].set_index("versus_prompt")
    assert set(d.index) == {"curated", "curated_shuffled", "curated_shuffled_in_class"}  # vs frozen, vs controls
    assert d.loc["curated_shuffled", "mean"] > 0.25 and d.loc["curated_shuffled", "significant"]
    assert abs(d.loc["curated_shuffled_in_class", "mean"]) < 0.1
    assert not d.loc["curated_shuffled_in_class", "significant"]
    md = out["md"].read_text()
    assert "Table 1d. Shuffled-caption controls" in md and "Text: `curated` − `curated_shuffled`" in md
    assert "Tables 1b-1d" in md and "not_run" not in md
    cells = table[table.kind == "cell"]
    assert set(cells.prompt) == {"curated", "curated_shuffled", "curated_shuffled_in_class"}


def test_two_workers_give_the_same_table(tmp_path):
    metrics, predictions = _sweep(tmp_path, n=40, seeds=2)
    one = aggregate(metrics, predictions, {k: tmp_path / "a" / k for k in ("runs", "csv", "md", "tex")}, "curated",
                    "control", FAST)  # fmt: skip
    two = aggregate(metrics, predictions, {k: tmp_path / "b" / k for k in ("runs", "csv", "md", "tex")}, "curated",
                    "control", FAST, workers=2)  # fmt: skip
    pd.testing.assert_frame_equal(one, two)
    assert (tmp_path / "a" / "md").read_text() == (tmp_path / "b" / "md").read_text()
