"""Drawing radio sources the way MiraBest's FIRST cut-outs look.

Shared by the two synthetic generators: the FR-I / FR-II dataset (`data.synthetic`) and the generic radio-sky scenes
the tiny model is pretrained on (`pretrain.scenes`). Sources are sums of elliptical Gaussian components on a
150 x 150 grid, convolved with a Gaussian beam (about 3 px FWHM: FIRST's 5.4" beam at 1.8"/px), given Gaussian
noise, then zeroed below 3 sigma of the background and scaled to 0-255, as MiraBest was built.

Coordinates are (x, y) = (column, row), row 0 at the top; angles are degrees counter-clockwise from +x (image right).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter

IMAGE_SIZE = 150  # MiraBest cut-outs are 150 x 150 pixels
BEAM_FWHM_PX = 3.0  # FIRST's 5.4 arcsec beam sampled at 1.8 arcsec per pixel
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
CLIP_SIGMA = 3.0  # MiraBest zeroes pixels below 3 sigma of the background
WINDOW_SIGMAS = 5.0  # a component is drawn within 5 sigma of its centre (exp(-12.5) ~ 4e-6 beyond)


def direction(angle_deg: float) -> np.ndarray:
    """Unit vector for an angle counter-clockwise from +x, in (x, y) image coordinates (y grows downwards)."""
    a = math.radians(angle_deg)
    return np.array([math.cos(a), -math.sin(a)])


class Canvas:
    """A float image that accumulates elliptical Gaussian components."""

    def __init__(self, size: int = IMAGE_SIZE) -> None:
        self.size = size
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
        """Add `amp * exp(-(u^2/sM^2 + v^2/sm^2)/2)` with u along `angle_deg`, drawn within its 5-sigma window."""
        sigma_minor = sigma_major if sigma_minor is None else sigma_minor
        reach = WINDOW_SIGMAS * max(sigma_major, sigma_minor)
        x0, x1 = max(int(x - reach), 0), min(int(x + reach) + 2, self.size)
        y0, y1 = max(int(y - reach), 0), min(int(y + reach) + 2, self.size)
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        a = math.radians(angle_deg)
        dx, dy = xx - x, -(yy - y)
        u = dx * math.cos(a) + dy * math.sin(a)
        v = -dx * math.sin(a) + dy * math.cos(a)
        self.sky[y0:y1, x0:x1] += amp * np.exp(-0.5 * ((u / sigma_major) ** 2 + (v / sigma_minor) ** 2))


def arm_path(start: np.ndarray, angle_deg: float, length: float, bend_deg: float) -> np.ndarray:
    """Points every pixel along an arm that turns steadily by `bend_deg` over its length."""
    n = max(int(length), 2)
    pts = [start.astype(float)]
    for i in range(1, n + 1):
        heading = angle_deg + bend_deg * (i / n)
        pts.append(pts[-1] + direction(heading) * (length / n))
    return np.array(pts)


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


def observe(sky: np.ndarray, noise_rms: float, rng: np.random.Generator) -> np.ndarray:
    """Beam-convolve, normalise to a peak of 1, add Gaussian noise of `noise_rms`, clip and scale to uint8."""
    beam = gaussian_filter(sky, BEAM_FWHM_PX * FWHM_TO_SIGMA)
    beam /= max(beam.max(), 1e-12)
    return sigma_clip_scale(beam + rng.normal(0.0, noise_rms, size=beam.shape))
