"""The run identity: ids and their parser, the target registry, the sweep, and the workflow's wildcard patterns."""

from __future__ import annotations

import re

import pytest

from morphalign.errors import MorphalignError
from morphalign.runs import RUN_PATTERN, TARGETS, TRAINED_RUN_PATTERN, TRAINED_TARGETS, Run, sweep


@pytest.mark.parametrize(
    "run,run_id",
    [(Run("curated", "frozen"), "curated/frozen"), (Run("control", "text", 3), "control/text/seed3")],
)
def test_id_and_parse_are_inverse(run, run_id):
    assert run.id == run_id and Run.parse(run_id) == run
    assert re.fullmatch(RUN_PATTERN, run_id)
    assert bool(re.fullmatch(TRAINED_RUN_PATTERN, run_id)) == run.trained


def test_frozen_has_no_seed_and_trained_targets_need_one():
    assert Run("p", "frozen").seed is None and Run("p", "frozen").rng_seed == 0
    with pytest.raises(MorphalignError, match="frozen baseline has no seed"):
        Run("p", "frozen", 0)
    with pytest.raises(MorphalignError, match="needs a seed"):
        Run("p", "vision")
    with pytest.raises(MorphalignError, match="unknown LoRA target 'tower'"):
        Run("p", "tower", 1)


@pytest.mark.parametrize("bad", ["curated", "curated/full", "curated/full/3", "a/frozen/seed0", "a/b/c/seed1"])
def test_parse_refuses_other_ids(bad):
    with pytest.raises(MorphalignError):
        Run.parse(bad)


def test_sweep_is_in_table_order_with_frozen_once_per_prompt():
    runs = sweep(["control", "curated"], ["full", "frozen", "vision"], [0, 1])
    assert [r.id for r in runs[:5]] == [
        "control/frozen",
        "control/vision/seed0",
        "control/vision/seed1",
        "control/full/seed0",
        "control/full/seed1",
    ]
    assert len(runs) == 2 * (1 + 2 * 2)


def test_registry_drives_the_trained_targets():
    assert tuple(n for n, t in TARGETS.items() if t.towers) == TRAINED_TARGETS
    assert TARGETS["full"].towers == ("vision", "text") and not TARGETS["frozen"].trained
