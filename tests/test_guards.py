"""The scientific checks on constructed metrics: each passes and fails where it should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from morphalign.artifacts import save_embeddings
from morphalign.evaluate.metrics import ranks, retrieval
from morphalign.report.guards import frozen_alignment, own_pair_ranks, trained_beats_frozen
from morphalign.vectors import cosine_matrix


def _pairs(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n image embeddings and their captions': the image plus `noise` times an independent draw."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(n, 16))
    return image, image + noise * rng.normal(size=(n, 16))


def test_own_pair_ranks_agree_with_the_metrics_ranks_and_their_chance():
    image, text = _pairs(40, 3.0, 0)
    observed, _ = own_pair_ranks(image, text, permutations=99)
    sim = cosine_matrix(image, text)
    assert observed == pytest.approx((ranks(sim).mean() + ranks(sim.T).mean()) / 2 / 39, abs=1e-12)
    assert own_pair_ranks(image, image, permutations=99) == (0.0, 0.01)  # every pair first: no draw does as well
    # unrelated captions: the mean percentile sits near 0.5 and the p-values of many such draws spread out evenly
    draws = [own_pair_ranks(*_pairs(60, 1e6, s), permutations=199, seed=s) for s in range(40)]
    assert abs(np.mean([d[0] for d in draws]) - 0.5) < 0.02
    assert 0.3 < np.mean([d[1] for d in draws]) < 0.7 and sum(d[1] < 0.05 for d in draws) <= 6


def _frozen_runs(tmp_path, noise: dict[str, float]) -> pd.DataFrame:
    rows = []
    for i, (prompt, level) in enumerate(noise.items()):
        image, text = _pairs(104, level, i)
        labels = np.arange(104) % 2
        folder = tmp_path / prompt / "frozen"
        save_embeddings(
            folder / "embeddings.npz",
            train_image=image[:10],
            train_text=text[:10],
            test_image=image,
            test_text=text,
            train_label=labels[:10],
            test_label=labels,
        )
        r5 = retrieval(image, text, labels)["recall_at_5"]  # shown in the detail, not checked
        rows.append(
            {"prompt": prompt, "target": "frozen", "dir": folder, "recall_at_5": r5, "chance_recall_at_5": 5 / 104}
        )
    return pd.DataFrame(rows)


def test_frozen_alignment_checks_the_main_prompt_by_permutation(tmp_path):
    m = _frozen_runs(tmp_path, {"curated": 4.0, "control": 1e6})
    name, ok, detail = frozen_alignment(m, "curated")
    assert ok and name == "frozen curated: own captions rank above chance (permutation p < 0.01)"
    assert "not checked: control: mean rank percentile" in detail  # the other prompt is shown, not checked
    assert not frozen_alignment(m, "control")[1]  # captions unrelated to their images


def test_trained_beats_frozen_needs_a_gain_larger_than_the_seed_spread():
    def runs(gains: list[float]) -> pd.DataFrame:
        rows = [{"prompt": "p", "target": "frozen", "seed": None, "class_recall_at_1": 0.6, "knn_f1_image": 0.7}]
        rows += [
            {"prompt": "p", "target": "full", "seed": s, "class_recall_at_1": 0.6 + g, "knn_f1_image": 0.7}
            for s, g in enumerate(gains)
        ]
        return pd.DataFrame(rows)

    assert trained_beats_frozen(runs([0.05, 0.06, 0.07]), "p")[1]  # +0.06, sd 0.01
    assert not trained_beats_frozen(runs([-0.05, 0.06, 0.17]), "p")[1]  # +0.06, sd 0.11
    assert not trained_beats_frozen(runs([-0.02, -0.01, -0.03]), "p")[1]  # consistently worse


def test_shuffled_controls_are_told_apart_by_their_captions_backend(tmp_path):
    from morphalign.report.guards import controls

    (tmp_path / "captions").mkdir()
    for name, backend in (("curated", "describer"), ("curated_shuffled", "shuffled"), ("gem", "gemini")):
        pd.DataFrame({"id": ["a", "b"], "caption": ["x", "y"], "backend": [backend] * 2}).to_csv(
            tmp_path / "captions" / f"{name}.csv", index=False
        )
    assert controls(tmp_path) == {"curated_shuffled"}
