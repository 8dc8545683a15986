"""The pretraining stage: scenes, their rotated or mirrored twins, captions, and a short run of the loop."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from morphalign.model.tiny import TinySpec
from morphalign.pretrain.loop import PretrainSettings, param_groups, pretrain
from morphalign.pretrain.scenes import (
    DIHEDRAL,
    MAX_WORDS,
    Part,
    _draw,
    caption,
    peaks,
    scene,
    twin_image,
    twin_parts,
)
from morphalign.sky import Canvas, direction
from morphalign.words import orientation

SMALL = TinySpec(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, image_size=32, patch_size=8)


def _brightest(image: np.ndarray) -> tuple[int, int]:
    row, col = np.unravel_index(np.argmax(image), image.shape)
    return int(col), int(row)


@pytest.mark.parametrize(("k", "flip"), DIHEDRAL)
def test_twin_parts_move_with_the_image(k, flip):
    """A lopsided double drawn, then turned: its brighter end is where the turned parts say it is."""
    part = Part("double", x=60.0, y=80.0, extent=50.0, angle=30.0, peak=1.0, bright="one end", bright_side="")
    canvas = Canvas()
    _draw(canvas, part, np.random.default_rng(0), ratio=0.3)
    image = twin_image(canvas.sky, k, flip)
    (moved,) = twin_parts([part], k, flip)
    end = np.array([moved.x, moved.y]) + direction(moved.angle) * moved.extent / 2
    assert np.allclose(_brightest(image), end, atol=1.0)
    # the axis in words follows the picture: measured from the image's second moments
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    w = image / image.sum()
    cx, cy = (w * xx).sum(), (w * yy).sum()
    cxx, cyy, cxy = (w * (xx - cx) ** 2).sum(), (w * (yy - cy) ** 2).sum(), (w * (xx - cx) * (yy - cy)).sum()
    measured = math.degrees(0.5 * math.atan2(-2 * cxy, cxx - cyy))  # anticlockwise, y up
    assert orientation(measured) == orientation(moved.angle)
    assert moved.bright_side and moved.bright_side in moved.ends()


def test_twin_of_identity_is_the_scene():
    image, parts = scene(np.random.default_rng(3))
    assert np.array_equal(twin_image(image, 0, False), image)
    assert twin_parts(parts, 0, False) == parts


def test_scene_captions_are_varied_and_never_name_a_radio_galaxy_class():
    rng = np.random.default_rng(0)
    captions = [caption(scene(rng)[1], rng) for _ in range(200)]
    assert len(set(captions)) > 0.95 * len(captions)
    words = set(re.findall(r"[a-z\-]+", " ".join(captions).lower()))
    assert not words & {"fr", "fri", "frii", "jet", "jets", "lobe", "lobes", "hotspot", "hotspots", "core", "plume"}
    assert {"horizontal", "vertical", "rising", "falling"} <= words
    assert max(len(c.split()) for c in captions) <= MAX_WORDS + 15  # the two lead sentences are always kept
    lay = sum(c.startswith(("A grainy", "A dark", "A noisy")) for c in captions)
    assert 0.25 < lay / len(captions) < 0.55  # both registers, the technical one more often


def test_peaks_are_a_doubles_ends_then_the_other_parts_middles():
    double = Part("double", 75.0, 75.0, 40.0, 0.0, 1.0, "ends")  # along +x: ends at x = 95 and 55
    spot = Part("compact", 20.0, 20.0, 4.0, 0.0, 0.5)
    haze = Part("diffuse", 100.0, 120.0, 40.0, 0.0, 0.3, "even")
    assert peaks([double, spot, haze]) == [(95.0, 75.0), (55.0, 75.0), (20.0, 20.0)]  # haze only when main
    one_sided = Part("double", 75.0, 75.0, 40.0, 0.0, 1.0, "one end", "right")
    assert peaks([one_sided]) == [(95.0, 75.0)]
    assert peaks([haze]) == [(100.0, 120.0)]


def test_weight_decay_only_on_weight_matrices():
    from morphalign.model.tiny import build_tiny

    model, _ = build_tiny(SMALL)
    decay, plain = param_groups(model, PretrainSettings(10, 10, 1, 1, 8, 1e-3, 0.05, 0.0, 0))
    plain_ids = {id(p) for p in plain["params"]}
    assert {id(model.logit_scale), id(model.logit_bias)} <= plain_ids and plain["weight_decay"] == 0.0
    assert id(model.text_model.embeddings.token_embedding.weight) in plain_ids
    assert all(p.ndim >= 2 for p in decay["params"]) and decay["weight_decay"] == 0.05
    assert len(decay["params"]) + len(plain["params"]) == len(list(model.parameters()))


def test_short_pretraining_run_writes_the_model_and_its_report(tmp_path):
    settings = PretrainSettings(
        n_scenes=64, n_held_out=16, captions_per_scene=2, epochs=2, batch_size=16, lr=1e-3, weight_decay=0.05,
        warmup_ratio=0.1, seed=0,
    )  # fmt: skip
    report = pretrain(tmp_path / "model", SMALL, settings)
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert [e["epoch"] for e in report["epochs"]] == [1, 2]
    assert report["final"]["chance_recall_at_1"] == pytest.approx(1 / 32)  # held-out scenes and their twins
    assert report["epochs"][-1]["train_loss"] < report["epochs"][0]["train_loss"]
    assert report["logit_bias"] == pytest.approx(-math.log(15), abs=0.1)  # starts at the prior log-odds
