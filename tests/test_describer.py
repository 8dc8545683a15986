"""Describer captions name the structures the generator drew, where it drew them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from morphalign.captions.analysis import direction_word, frame_position
from morphalign.captions.describer import MAX_WORDS, describe
from morphalign.data.synthetic import generate


@pytest.fixture(scope="module")
def sample():
    return generate(n_train=120, n_test=10, seed=11, val_size=10, val_seed=1)


def test_curated_names_jets_for_fr1_and_hotspots_for_fr2(sample):
    images, man = sample
    caps = [describe(img, "curated") for img in images]
    fr1 = [c for c, lab in zip(caps, man["label"], strict=True) if lab == 0]
    fr2 = [c for c, lab in zip(caps, man["label"], strict=True) if lab == 1]
    assert np.mean(["jets" in c for c in fr1]) > 0.85
    assert np.mean(["hotspot" in c for c in fr2]) > 0.85
    assert np.mean(["hotspot" in c for c in fr1]) < 0.1
    assert np.mean(["jets" in c for c in fr2]) < 0.1


def test_curated_directions_follow_the_arms(sample):
    images, man = sample
    hits = 0
    for img, (_, row) in zip(images, man.iterrows(), strict=True):
        comps = json.loads(row["geometry"])
        core = next(c for c in comps if c["kind"] == "core")
        ends = [c for c in comps if c["kind"] in ("hotspot", "plume")]
        words = {direction_word(e["x"] - core["x"], e["y"] - core["y"]) for e in ends}
        caption = describe(img, "curated")
        # each arm's end direction, or a neighbouring compass word, appears in the caption
        hits += all(any(w2 in caption for w2 in _neighbours(w)) for w in words)
    assert hits / len(images) > 0.8


def _neighbours(word):
    names = ["right", "upper right", "top", "upper left", "left", "lower left", "bottom", "lower right"]
    i = names.index(word)
    return {names[i], names[(i - 1) % 8], names[(i + 1) % 8]}


def test_curated_reports_unassociated_sources(sample):
    images, man = sample
    said = np.array(["not associated" in describe(img, "curated") for img in images])
    truth = man["n_unrelated"].to_numpy() > 0
    assert np.mean(said == truth) > 0.85


def test_frame_position_words():
    shape = (150, 150)
    assert frame_position(75, 75, shape) == "center"
    assert frame_position(10, 10, shape) == "upper left"
    assert frame_position(140, 75, shape) == "right"
    assert frame_position(75, 140, shape) == "bottom"
    assert direction_word(1, 0) == "right" and direction_word(0, -1) == "top"
    assert direction_word(-1, 1) == "lower left"


def test_control_is_generic_and_both_are_short_and_deterministic(sample):
    images, _ = sample
    for img in images[:40]:
        control, curated = describe(img, "control"), describe(img, "curated")
        assert not any(w in control for w in ("jet", "lobe", "hotspot", "centroid"))
        assert len(curated.split()) <= MAX_WORDS and len(control.split()) <= MAX_WORDS
        assert describe(img, "curated") == curated and describe(img, "control") == control


def test_empty_image():
    assert "no significant emission" in describe(np.zeros((150, 150), np.uint8), "curated")


def test_unknown_style():
    with pytest.raises(ValueError, match="style"):
        describe(np.zeros((150, 150), np.uint8), "poetic")
