"""The geometry measures, on embeddings built so that the answer is known by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from morphalign.evaluate.geometry import alignment, geometry, linear_cka, modality_gap, mutual_knn, uniformity


def _e(i: int, d: int = 4) -> np.ndarray:
    v = np.zeros(d)
    v[i] = 1.0
    return v


def test_gap_of_two_constructed_clouds():
    x = np.stack([_e(0), _e(1)] * 5)  # centroid (0.5, 0.5, 0, 0)
    y = np.stack([_e(2)] * 10)  # centroid (0, 0, 1, 0)
    assert modality_gap(x, y) == pytest.approx(math.sqrt(0.5**2 + 0.5**2 + 1.0))
    assert modality_gap(x, x) == 0.0
    assert modality_gap(3.0 * x, y) == pytest.approx(modality_gap(x, y))  # rows are normalised first


def test_alignment_and_uniformity_by_hand():
    x = np.stack([_e(0), _e(1)])
    assert alignment(x, x) == 0.0
    assert alignment(x, np.stack([_e(2), _e(3)])) == pytest.approx(2.0)  # orthogonal pairs: |x - y|^2 = 2
    assert alignment(x, -x) == pytest.approx(4.0)  # opposite pairs
    assert uniformity(np.stack([_e(0)] * 6)) == pytest.approx(0.0)  # collapsed to one point
    assert uniformity(np.stack([_e(0), -_e(0)])) == pytest.approx(-8.0)  # log exp(-2 * 4)
    assert uniformity(np.stack([_e(0), _e(1)])) == pytest.approx(-4.0)  # log exp(-2 * 2)


def test_cka_with_itself_and_its_rotation_is_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8))
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, x @ q) == pytest.approx(1.0)
    assert linear_cka(x, 5.0 * x @ q + 3.0) == pytest.approx(1.0)  # scale and shift too
    assert linear_cka(x, rng.normal(size=(50, 8))) < 0.4


def test_mutual_knn_is_one_for_identical_spaces_and_near_chance_for_independent_ones():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(104, 16))
    assert mutual_knn(x, x, k=10) == 1.0
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert mutual_knn(x, x @ q, k=10) == 1.0  # cosine neighbours survive a rotation
    draws = [mutual_knn(x, rng.normal(size=(104, 16)), k=10) for _ in range(20)]
    assert np.mean(draws) == pytest.approx(10 / 103, abs=0.02)
    with pytest.raises(ValueError, match="0 < k < n"):
        mutual_knn(x[:5], x[:5], k=5)


def test_geometry_reports_every_measure_and_the_chance_level():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 6))
    g = geometry(x, x + 0.01 * rng.normal(size=x.shape), k=5)
    assert set(g) == {
        "modality_gap", "alignment", "uniformity_image", "uniformity_text", "mutual_knn", "chance_mutual_knn",
        "linear_cka",
    }  # fmt: skip
    assert g["chance_mutual_knn"] == pytest.approx(5 / 29)
    assert g["alignment"] < 0.01 and g["linear_cka"] > 0.99 and g["mutual_knn"] > 0.8


def test_the_geometry_table_and_figure_summarise_runs_over_seeds(tmp_path):
    from morphalign.report.geometry import MEASURES, geometry_tables

    rows = []
    for prompt, shift in (("control", 0.0), ("curated", 0.1)):
        rows += [{"prompt": prompt, "target": "frozen", "seed": None, "metric": k, "value": 1.0} for k in MEASURES]
        for seed, v in enumerate((0.4, 0.5, 0.6)):
            rows += [
                {"prompt": prompt, "target": "full", "seed": seed, "metric": k, "value": v + shift} for k in MEASURES
            ]
        rows.append({"prompt": prompt, "target": "frozen", "seed": None, "metric": "chance_mutual_knn", "value": 0.097})
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    out = geometry_tables(tmp_path / "runs.csv", tmp_path / "g.csv", tmp_path / "g.md", tmp_path / "g.png")
    full = out[(out.prompt == "curated") & (out.target == "full") & (out.metric == "linear_cka")].iloc[0]
    assert full["mean"] == pytest.approx(0.6) and full["std"] == pytest.approx(0.1) and full["seeds"] == 3
    md = (tmp_path / "g.md").read_text()
    assert (
        "Mutual k-NN chance: 0.097" in md
        and "| Linear CKA (higher: the spaces agree) | 1.000 ± 0.000 | 0.600 ± 0.100 |" in md
    )
    assert (tmp_path / "g.png").stat().st_size > 10_000
