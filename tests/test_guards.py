"""The scientific checks on constructed metrics: each passes and fails where it should."""

from __future__ import annotations

import pandas as pd

from morphalign.report.guards import frozen_retrieval, trained_beats_frozen


def _frozen(curated: float, control: float) -> pd.DataFrame:
    chance = 5 / 104
    return pd.DataFrame(
        [
            {"prompt": "curated", "target": "frozen", "recall_at_5": curated, "chance_recall_at_5": chance},
            {"prompt": "control", "target": "frozen", "recall_at_5": control, "chance_recall_at_5": chance},
        ]
    )


def test_frozen_retrieval_checks_the_main_prompt_at_three_times_chance():
    name, ok, detail = frozen_retrieval(_frozen(0.150, 0.050), "curated")
    assert ok and name == "frozen curated: Recall@5 >= 3x chance"
    assert "control 0.050 (1.0x)" in detail  # shown, not checked
    assert not frozen_retrieval(_frozen(0.140, 0.50), "curated")[1]  # 0.140 < 3 x 5/104 = 0.144
    assert frozen_retrieval(_frozen(0.140, 0.50), "control")[1]


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
