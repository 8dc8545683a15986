"""Synthetic FR-I / FR-II radio galaxies: the embedded default dataset, as hard to tell apart as MiraBest.

Each source is a sum of Gaussian components drawn and observed like a FIRST cut-out (`morphalign.sky`): beam,
noise, MiraBest's 3-sigma clip and 0-255 scaling. The classes overlap as real ones do:

- FR-I (label 0), core-brightened on average: a core; two jets (sometimes one) whose brightness falls with
  distance and whose width grows until they fade into diffuse plumes; often bent (wide-angle and narrow-angle
  tails); sometimes with bright knots far out along a jet, brighter than the core.
- FR-II (label 1), edge-brightened on average: a core that is usually faint but sometimes bright; two lobes ending
  in hotspots that may be faint, one-sided or recessed; lobes sometimes bent.
- Both: compact, barely resolved sources; low signal-to-noise images; unrelated point sources and, now and then,
  a second extended neighbour in the field.

Position angle, size, arm asymmetry and bending vary. Everything follows from one seed. The true geometry of each
source (components and their pixel positions, angles, arm lengths) is returned with the image so that tests can
check captions against it. Pixel coordinates are (x, y) = (column, row), row 0 at the top of the image.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from morphalign.data.split import draw_validation
from morphalign.sky import IMAGE_SIZE, Canvas, arm_path, observe

LABEL_NAMES = {0: "FR-I", 1: "FR-II"}
NOISE_RMS = (0.01, 0.08)  # relative to the peak: from bright, clean sources to ones barely above the clip


@dataclass
class Component:
    """One emitting part of a source, for the manifest's geometry record."""

    kind: str  # core | jet | knot | plume | lobe | hotspot | point | neighbour
    x: float
    y: float


@dataclass
class Geometry:
    """The true layout of one synthetic source."""

    label: int
    core_x: float
    core_y: float
    pa_deg: float  # direction of the first arm, degrees counter-clockwise from +x (image right)
    arm_lengths: tuple[float, float]
    bend_deg: float  # both arms turn by this angle towards the same side over their length
    components: list[Component] = field(default_factory=list)

    @property
    def size_px(self) -> float:
        return float(sum(self.arm_lengths))


def _draw_fr1(c: Canvas, g: Geometry, rng: np.random.Generator) -> None:
    core = np.array([g.core_x, g.core_y])
    c.blob(*core, amp=rng.uniform(0.3, 1.0), sigma_major=1.6)
    g.components.append(Component("core", *map(float, core)))
    one_sided = rng.random() < 0.15
    for k, (angle, length) in enumerate(zip((g.pa_deg, g.pa_deg + 180.0), g.arm_lengths, strict=True)):
        bend = g.bend_deg if k == 0 else -g.bend_deg  # both arms sweep back to the same side
        path = arm_path(core, angle, length, bend)
        decay = length * rng.uniform(0.35, 0.8)
        strength = 0.15 if one_sided and k == 1 else 1.0
        for i, q in enumerate(path[1:], start=1):
            s = i / len(path) * length
            width = 1.0 + 0.12 * s
            # blobs sit 1 px apart, so divide by sqrt(2 pi) * width to keep the jet's ridge at `amp`
            c.blob(*q, amp=strength * 0.5 * math.exp(-s / decay) / (2.5 * width), sigma_major=width)
        if rng.random() < 0.5 * strength:  # a bright knot far out, often brighter than the core
            q = path[int(len(path) * rng.uniform(0.5, 0.9))]
            c.blob(*q, amp=rng.uniform(0.5, 1.5), sigma_major=rng.uniform(1.3, 2.2))
            g.components.append(Component("knot", float(q[0]), float(q[1])))
        mid, end = path[len(path) // 2], path[-1]
        c.blob(*end, amp=strength * rng.uniform(0.04, 0.12), sigma_major=max(3.0, 0.18 * length))
        g.components.append(Component("jet", float(mid[0]), float(mid[1])))
        g.components.append(Component("plume", float(end[0]), float(end[1])))


def _draw_fr2(c: Canvas, g: Geometry, rng: np.random.Generator) -> None:
    core = np.array([g.core_x, g.core_y])
    bright_core = rng.random() < 0.5
    c.blob(*core, amp=rng.uniform(0.5, 1.3) if bright_core else rng.uniform(0.03, 0.25), sigma_major=1.3)
    g.components.append(Component("core", *map(float, core)))
    faint_side = int(rng.integers(2)) if rng.random() < 0.3 else -1  # one hotspot faint or missing
    for k, (angle, length) in enumerate(zip((g.pa_deg, g.pa_deg + 180.0), g.arm_lengths, strict=True)):
        bend = g.bend_deg if k == 0 else -g.bend_deg
        path = arm_path(core, angle, length, bend)
        heading = angle + bend
        lobe_c = path[int(len(path) * 0.75)]
        c.blob(
            *lobe_c,
            amp=rng.uniform(0.12, 0.3),
            sigma_major=0.22 * length + 2.0,
            sigma_minor=0.10 * length + 2.0,
            angle_deg=heading,
        )
        spot = path[int(len(path) * rng.uniform(0.8, 1.0)) - 1]  # at the end, or recessed
        amp = rng.uniform(0.0, 0.25) if k == faint_side else rng.uniform(0.35, 1.0)
        c.blob(*spot, amp=amp, sigma_major=rng.uniform(1.2, 2.0))
        g.components.append(Component("lobe", float(lobe_c[0]), float(lobe_c[1])))
        g.components.append(Component("hotspot", float(spot[0]), float(spot[1])))


def _add_points(c: Canvas, g: Geometry, rng: np.random.Generator, rate: float) -> None:
    n = int(rng.poisson(rate))
    reach = max(g.arm_lengths) + 12.0
    for _ in range(n):
        for _try in range(50):
            x, y = rng.uniform(8, c.size - 8, size=2)
            if math.hypot(x - g.core_x, y - g.core_y) > reach:
                c.blob(x, y, amp=rng.uniform(0.2, 0.9), sigma_major=rng.uniform(1.0, 2.5))
                g.components.append(Component("point", float(x), float(y)))
                break


def _add_neighbour(c: Canvas, g: Geometry, rng: np.random.Generator) -> None:
    """A second, unrelated extended source in the field: a double or an elongated patch."""
    for _try in range(50):
        x, y = rng.uniform(15, c.size - 15, size=2)
        if math.hypot(x - g.core_x, y - g.core_y) > max(g.arm_lengths) + 20.0:
            angle, half = rng.uniform(0, 180), rng.uniform(5, 15)
            if rng.random() < 0.5:
                for sign in (-1, 1):
                    q = np.array([x, y]) + sign * half * np.array(
                        [math.cos(math.radians(angle)), -math.sin(math.radians(angle))]
                    )
                    c.blob(*q, amp=rng.uniform(0.2, 0.6), sigma_major=1.5)
            else:
                c.blob(x, y, amp=rng.uniform(0.15, 0.4), sigma_major=half / 1.5, sigma_minor=2.0, angle_deg=angle)
            g.components.append(Component("neighbour", float(x), float(y)))
            return


def render_source(
    label: int,
    rng: np.random.Generator,
    point_rate: float = 0.5,
    noise: tuple[float, float] = NOISE_RMS,
    size: int = IMAGE_SIZE,
    compact_rate: float = 0.1,
    neighbour_rate: float = 0.1,
) -> tuple[np.ndarray, Geometry]:
    """Draw one source of class `label` (0 FR-I, 1 FR-II); return the uint8 image and its true geometry."""
    if label not in LABEL_NAMES:
        raise ValueError(f"label must be 0 (FR-I) or 1 (FR-II), got {label}")
    centre = size / 2.0
    if rng.random() < compact_rate:  # barely resolved: the class is hard to see at all
        half = rng.uniform(4, 10)
    else:
        half = rng.uniform(10, 48) if label == 0 else rng.uniform(11, 52)
    ratio = rng.uniform(0.6, 1.0)  # the shorter arm's length relative to the longer
    arms = (half, half * ratio) if rng.random() < 0.5 else (half * ratio, half)
    bent = rng.random() < (0.45 if label == 0 else 0.2)
    bend = rng.uniform(25, 70 if label == 0 else 40) * rng.choice([-1, 1]) if bent else rng.uniform(-10, 10)
    g = Geometry(
        label=label,
        core_x=centre + rng.normal(0, 2.5),
        core_y=centre + rng.normal(0, 2.5),
        pa_deg=float(rng.uniform(0, 180)),
        arm_lengths=(float(arms[0]), float(arms[1])),
        bend_deg=float(bend),
    )
    canvas = Canvas(size)
    (_draw_fr1 if label == 0 else _draw_fr2)(canvas, g, rng)
    _add_points(canvas, g, rng, point_rate)
    if rng.random() < neighbour_rate:
        _add_neighbour(canvas, g, rng)
    return observe(canvas.sky, rng.uniform(*noise), rng), g


def generate(
    n_train: int,
    n_test: int,
    seed: int,
    val_size: int,
    val_seed: int,
    fr2_fraction: float = 0.52,
    point_rate: float = 0.5,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Make a whole dataset: images (N x 150 x 150 uint8) and a manifest in the shared format.

    The test set is drawn from its own random stream, so it stays fixed when `n_train` changes.
    `fr2_fraction` defaults to MiraBest Confident's share of FR-II (381 of 729 in train).
    """
    images, rows = [], []
    for split, n, stream in (("train", n_train, 0), ("test", n_test, 1)):
        rng = np.random.default_rng([seed, stream])
        labels = np.zeros(n, dtype=int)
        labels[: round(n * fr2_fraction)] = 1
        rng.shuffle(labels)
        for i, label in enumerate(labels):
            img, g = render_source(int(label), rng, point_rate=point_rate)
            images.append(img)
            n_points = sum(c.kind == "point" for c in g.components)
            rows.append(
                {
                    "id": f"syn-{split}-{i:05d}",
                    "label": int(label),
                    "label_name": LABEL_NAMES[int(label)],
                    "split": split,
                    "core_x": round(g.core_x, 2),
                    "core_y": round(g.core_y, 2),
                    "pa_deg": round(g.pa_deg, 2),
                    "size_px": round(g.size_px, 2),
                    "arm1_px": round(g.arm_lengths[0], 2),
                    "arm2_px": round(g.arm_lengths[1], 2),
                    "bend_deg": round(g.bend_deg, 2),
                    "n_unrelated": n_points,
                    "geometry": json.dumps([asdict(c) for c in g.components]),
                }
            )
    manifest = pd.DataFrame(rows)
    pool = np.flatnonzero(manifest["split"].to_numpy() == "train")
    val = draw_validation(len(pool), val_size, val_seed)
    manifest.loc[pool[val], "split"] = "val"
    return np.stack(images), manifest
