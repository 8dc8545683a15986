"""The synthetic generator: format, determinism, labels and the geometry it records."""

from __future__ import annotations

import json

import numpy as np
from scipy import ndimage

from morphalign.data.synthetic import generate, render_source


def test_format_and_splits():
    images, man = generate(n_train=60, n_test=20, seed=1, val_size=15, val_seed=42)
    assert images.shape == (80, 150, 150) and images.dtype == np.uint8
    assert man["split"].value_counts().to_dict() == {"train": 45, "test": 20, "val": 15}
    assert set(man["label"]) == {0, 1}
    assert (man["label_name"] == man["label"].map({0: "FR-I", 1: "FR-II"})).all()
    assert man["id"].is_unique
    assert images.max() == 255 and images.min() == 0  # scaled to 0-255 like MiraBest


def test_deterministic_and_fixed_test_set():
    a, ma = generate(n_train=20, n_test=10, seed=3, val_size=5, val_seed=1)
    b, mb = generate(n_train=20, n_test=10, seed=3, val_size=5, val_seed=1)
    assert np.array_equal(a, b) and ma.equals(mb)
    c, mc = generate(n_train=30, n_test=10, seed=3, val_size=5, val_seed=1)
    assert np.array_equal(a[ma.split == "test"], c[mc.split == "test"])
    d, _ = generate(n_train=20, n_test=10, seed=4, val_size=5, val_seed=1)
    assert not np.array_equal(a, d)


def _brightest_component(img, geometry):
    """Kind of the recorded component nearest the image's brightest pixel."""
    sm = ndimage.gaussian_filter(img.astype(float), 1)
    y, x = np.unravel_index(np.argmax(sm), img.shape)
    comps = [c for c in geometry if c["kind"] not in ("point", "neighbour")]
    return min(comps, key=lambda c: (c["x"] - x) ** 2 + (c["y"] - y) ** 2)["kind"]


def test_classes_differ_on_average_and_overlap():
    """FR-I mostly peak at the core, FR-II mostly at a hotspot; but not always, as in real samples."""
    rng = np.random.default_rng(0)
    share = {}
    for label, kind in ((0, "core"), (1, "hotspot")):
        kinds = []
        for _ in range(80):
            img, g = render_source(label, rng, point_rate=0.0, compact_rate=0.0, neighbour_rate=0.0)
            kinds.append(_brightest_component(img, [c.__dict__ for c in g.components]))
        share[label] = np.mean([k == kind for k in kinds])
        assert 0.3 < share[label] < 0.95, (label, kinds)
    rng = np.random.default_rng(1)
    fr1_knots = [render_source(0, rng)[1] for _ in range(40)]
    assert any(c.kind == "knot" for g in fr1_knots for c in g.components)


def test_raw_pixels_do_not_give_the_class_away():
    """Logistic regression on raw pixels of the default set scores as on MiraBest F (0.67), not 1.00."""
    from morphalign.report.calibration import image_measures

    images, man = generate(n_train=729, n_test=104, seed=2025, val_size=100, val_seed=42)
    train = np.flatnonzero(man["split"] != "test")
    test = np.flatnonzero(man["split"] == "test")
    m = image_measures(images, man["label"].to_numpy(), train, test)
    assert 0.60 <= m["raw_pixel_lr_f1"] <= 0.80, m
    assert m["brightest_pixel_distance_f1"] < 0.85 and m["central_brightness_f1"] < 0.85, m


def test_geometry_recorded_in_manifest():
    images, man = generate(n_train=30, n_test=10, seed=5, val_size=5, val_seed=1, point_rate=2.0)
    for i, row in man.iterrows():
        comps = json.loads(row["geometry"])
        kinds = [c["kind"] for c in comps]
        assert kinds.count("core") == 1
        if row["label"] == 0:
            assert kinds.count("jet") == 2 and kinds.count("plume") == 2
        else:
            assert kinds.count("hotspot") == 2 and kinds.count("lobe") == 2
        assert kinds.count("point") == row["n_unrelated"]
        core = next(c for c in comps if c["kind"] == "core")
        assert abs(core["x"] - row["core_x"]) < 0.01 and abs(core["y"] - row["core_y"]) < 0.01
        assert abs(row["arm1_px"] + row["arm2_px"] - row["size_px"]) < 0.02
        # the recorded source is where the emission is: some recorded part of it is bright
        parts = [c for c in comps if c["kind"] not in ("point", "neighbour")]
        assert (
            max(images[i, round(c["y"]), round(c["x"])] for c in parts if 0 <= c["x"] < 150 and 0 <= c["y"] < 150) > 0
        )
    assert man["n_unrelated"].sum() > 0
