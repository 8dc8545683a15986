"""Scientific guard tests on the embedded default: above chance, better than frozen, no collapse, and data that
does not give the answer away.

They need a finished run of the default. CI runs `snakemake --cores 2` first and points MORPHALIGN_DEFAULT_RUN at
its working directory; without it the default runs here, in a temporary folder (about 15 minutes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # (the default_run group comes from conftest)


@pytest.fixture(scope="module")
def results(default_run) -> Path:
    return default_run / "results"


def _check(results: Path, name_part: str):
    from morphalign.report.guards import all_checks

    found = [c for c in all_checks(results, "curated") if name_part in c[0]]
    assert found, f"no check named like {name_part!r}"
    return found


@pytest.mark.parametrize(
    "name",
    [
        "pretraining: held-out Recall@5",
        "frozen curated: own captions rank above chance",
        "beats frozen by more than its seed spread",
        "equal-cosine plateau",
        "loss decrease",
        "raw-pixel F1 below",
        "bag-of-words F1 below",
        "names an FR class",
    ],
)
def test_guard(results, name):
    for check, passed, detail in _check(results, name):
        assert passed, f"{check}: {detail}"


def test_frozen_image_probe_is_not_solved(results):
    import json

    frozen = json.loads((results / "runs" / "curated" / "frozen" / "metrics.json").read_text())
    assert frozen["linear_probe_f1_image"] < 0.95


def test_early_stopping_fires(results):
    import json

    logs = [json.loads(p.read_text()) for p in results.glob("runs/**/train_log.json")]
    assert logs and all(log["stopped_early"] for log in logs)
