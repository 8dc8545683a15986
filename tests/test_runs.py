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


def test_a_prompt_can_take_fewer_targets_than_the_sweep():
    runs = sweep(["curated", "curated_shuffled"], ["frozen", "text", "full"], [0, 1], {"curated_shuffled": ["text"]})
    assert [r.id for r in runs if r.prompt == "curated_shuffled"] == [
        "curated_shuffled/text/seed0",
        "curated_shuffled/text/seed1",
    ]
    assert len([r for r in runs if r.prompt == "curated"]) == 1 + 2 * 2


def test_a_prompt_target_outside_the_sweep_is_refused():
    from conftest import SCHEMA
    from morphalign.config import sweep_runs, validate_config

    def cfg(targets):
        prompt = {"text": "t", "backend": "describer", "style": "curated", "targets": targets}
        return validate_config({"targets": ["frozen", "text"], "prompts": {"curated": prompt}}, SCHEMA)

    assert [r.id for r in sweep_runs(cfg(["text"]))] == [f"curated/text/seed{s}" for s in range(3)]
    with pytest.raises(MorphalignError, match=r"prompts\.curated\.targets: 'full' is not one of the sweep's"):
        cfg(["full"])


def test_a_prompt_can_take_its_own_seeds():
    runs = sweep(["curated", "ctl"], ["frozen", "text"], [0, 1, 2], {"ctl": ["text"]}, {"ctl": [0, 1]})
    assert [r.id for r in runs if r.prompt == "ctl"] == ["ctl/text/seed0", "ctl/text/seed1"]
    assert [r.seed for r in runs if r.prompt == "curated"] == [None, 0, 1, 2]
