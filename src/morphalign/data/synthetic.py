"""Synthetic FR-I / FR-II radio galaxies: the embedded default dataset.

Each source is drawn as a sum of Gaussian blobs on a 150 x 150 grid, then treated the way MiraBest's FIRST cut-outs
were built: convolved with a Gaussian beam (about 3 px FWHM, FIRST's 5.4" beam at 1.8"/px), given Gaussian noise,
sigma-clipped at 3 sigma of the background and scaled to 0-255.

- FR-I (label 0): core-brightened. A bright core; two jets whose brightness falls with distance and whose width
  grows until they end in diffuse plumes; sometimes bent (wide-angle-tail-like).
- FR-II (label 1): edge-brightened. A faint core; two lobes that end in compact bright hotspots.

Position angle, size, arm asymmetry and bending vary; some images get unrelated point sources. Everything follows
from one seed. The true geometry of each source (components and their pixel positions, angles, arm lengths) is
returned with the image so that tests can check captions against it. Pixel coordinates are (x, y) = (column, row),
row 0 at the top of the image.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from morphalign.data.split import draw_validation

IMAGE_SIZE = 150  # MiraBest cut-outs are 150 x 150 pixels
BEAM_FWHM_PX = 3.0  # FIRST's 5.4 arcsec beam sampled at 1.8 arcsec per pixel
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
CLIP_SIGMA = 3.0  # MiraBest zeroes pixels below 3 sigma of the background
LABEL_NAMES = {0: "FR-I", 1: "FR-II"}


@dataclass
class Component:
    """One emitting part of a source, for the manifest's geometry record."""

    kind: str  # core | jet | plume | lobe | hotspot | point
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


def _direction(angle_deg: float) -> np.ndarray:
    """Unit vector for an angle counter-clockwise from +x, in (x, y) image coordinates (y grows downwards)."""
    a = math.radians(angle_deg)
    return np.array([math.cos(a), -math.sin(a)])


class _Canvas:
    """A float image that accumulates elliptical Gaussian blobs."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.yy, self.xx = np.mgrid[0:size, 0:size].astype(np.float64)
        self.sky = np.zeros((size, size))

    def blob(
        self,
        x: float,
        y: float,
        amp: float,
        sigma_major: float,
        sigma_minor: float | None = None,
        angle_deg: float = 0.0,
    ) -> None:
        sigma_minor = sigma_major if sigma_minor is None else sigma_minor
        a = math.radians(angle_deg)
        dx, dy = self.xx - x, -(self.yy - y)
        u = dx * math.cos(a) + dy * math.sin(a)
        v = -dx * math.sin(a) + dy * math.cos(a)
        self.sky += amp * np.exp(-0.5 * ((u / sigma_major) ** 2 + (v / sigma_minor) ** 2))


def _arm_path(start: np.ndarray, angle_deg: float, length: float, bend_deg: float) -> np.ndarray:
    """Points every pixel along an arm that turns steadily by `bend_deg` over its length."""
    n = max(int(length), 2)
    pts = [start.astype(float)]
    for i in range(1, n + 1):
        heading = angle_deg + bend_deg * (i / n)
        pts.append(pts[-1] + _direction(heading) * (length / n))
    return np.array(pts)


def _draw_fr1(c: _Canvas, g: Geometry, rng: np.random.Generator) -> None:
    core = np.array([g.core_x, g.core_y])
    c.blob(*core, amp=1.0, sigma_major=1.6)
    g.components.append(Component("core", *map(float, core)))
    for k, (angle, length) in enumerate(zip((g.pa_deg, g.pa_deg + 180.0), g.arm_lengths, strict=True)):
        bend = g.bend_deg if k == 0 else -g.bend_deg  # both arms sweep back to the same side
        path = _arm_path(core, angle, length, bend)
        decay = length * rng.uniform(0.35, 0.6)
        for i, p in enumerate(path[1:], start=1):
            s = i / len(path) * length
            width = 1.0 + 0.12 * s
            # blobs sit 1 px apart, so divide by sqrt(2 pi) * width to keep the jet's ridge at `amp`
            c.blob(*p, amp=0.5 * math.exp(-s / decay) / (2.5 * width), sigma_major=width)
        mid, end = path[len(path) // 2], path[-1]
        plume_sigma = max(3.0, 0.18 * length)
        c.blob(*end, amp=0.06, sigma_major=plume_sigma)
        g.components.append(Component("jet", float(mid[0]), float(mid[1])))
        g.components.append(Component("plume", float(end[0]), float(end[1])))


def _draw_fr2(c: _Canvas, g: Geometry, rng: np.random.Generator) -> None:
    core = np.array([g.core_x, g.core_y])
    c.blob(*core, amp=rng.uniform(0.08, 0.25), sigma_major=1.3)
    g.components.append(Component("core", *map(float, core)))
    for k, (angle, length) in enumerate(zip((g.pa_deg, g.pa_deg + 180.0), g.arm_lengths, strict=True)):
        bend = g.bend_deg if k == 0 else -g.bend_deg
        path = _arm_path(core, angle, length, bend)
        end = path[-1]
        heading = angle + bend
        lobe_c = path[int(len(path) * 0.75)]
        c.blob(
            *lobe_c,
            amp=rng.uniform(0.18, 0.3),
            sigma_major=0.22 * length + 2.0,
            sigma_minor=0.10 * length + 2.0,
            angle_deg=heading,
        )
        c.blob(*end, amp=rng.uniform(0.8, 1.0), sigma_major=1.4)
        g.components.append(Component("lobe", float(lobe_c[0]), float(lobe_c[1])))
        g.components.append(Component("hotspot", float(end[0]), float(end[1])))


def _add_points(c: _Canvas, g: Geometry, rng: np.random.Generator, rate: float) -> None:
    n = int(rng.poisson(rate))
    reach = max(g.arm_lengths) + 12.0
    for _ in range(n):
        for _try in range(50):
            x, y = rng.uniform(8, c.size - 8, size=2)
            if math.hypot(x - g.core_x, y - g.core_y) > reach:
                c.blob(x, y, amp=rng.uniform(0.3, 0.8), sigma_major=1.2)
                g.components.append(Component("point", float(x), float(y)))
                break


def sigma_clip_scale(sky: np.ndarray, n_sigma: float = CLIP_SIGMA, iters: int = 5) -> np.ndarray:
    """MiraBest-style scaling: zero pixels below `n_sigma` x background rms, then scale to 0-255 uint8.

    The background rms comes from an iterative sigma clip of the whole image (sources are a small fraction).
    """
    vals = sky.ravel()
    mu, sd = float(np.median(vals)), float(np.std(vals))
    for _ in range(iters):
        keep = np.abs(vals - mu) < n_sigma * sd
        mu, sd = float(np.median(vals[keep])), float(np.std(vals[keep]))
    clipped = np.where(sky >= mu + n_sigma * sd, sky, 0.0)
    peak = clipped.max()
    if peak <= 0:
        return np.zeros(sky.shape, dtype=np.uint8)
    return np.round(255.0 * clipped / peak).astype(np.uint8)


def render_source(
    label: int,
    rng: np.random.Generator,
    point_rate: float = 0.5,
    noise: tuple[float, float] = (0.01, 0.03),
    size: int = IMAGE_SIZE,
) -> tuple[np.ndarray, Geometry]:
    """Draw one source of class `label` (0 FR-I, 1 FR-II); return the uint8 image and its true geometry."""
    if label not in LABEL_NAMES:
        raise ValueError(f"label must be 0 (FR-I) or 1 (FR-II), got {label}")
    centre = size / 2.0
    half = rng.uniform(14, 38) if label == 0 else rng.uniform(18, 50)
    ratio = rng.uniform(0.6, 1.0)  # the shorter arm's length relative to the longer
    arms = (half, half * ratio) if rng.random() < 0.5 else (half * ratio, half)
    bent = label == 0 and rng.random() < 0.4
    bend = rng.uniform(25, 60) * rng.choice([-1, 1]) if bent else rng.uniform(-10, 10)
    g = Geometry(
        label=label,
        core_x=centre + rng.normal(0, 2.5),
        core_y=centre + rng.normal(0, 2.5),
        pa_deg=float(rng.uniform(0, 180)),
        arm_lengths=(float(arms[0]), float(arms[1])),
        bend_deg=float(bend),
    )
    canvas = _Canvas(size)
    (_draw_fr1 if label == 0 else _draw_fr2)(canvas, g, rng)
    _add_points(canvas, g, rng, point_rate)
    beam = gaussian_filter(canvas.sky, BEAM_FWHM_PX * FWHM_TO_SIGMA)
    beam /= beam.max()
    noisy = beam + rng.normal(0.0, rng.uniform(*noise), size=beam.shape)
    return sigma_clip_scale(noisy), g


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
