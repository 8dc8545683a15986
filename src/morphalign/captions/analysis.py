"""Measure the morphology of a radio image: flux components, bright centroids, the main source's axis and ends.

Used by the offline `describer` caption backend. Coordinates are (x, y) = (column, row), row 0 at the top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from morphalign.words import direction_word, frame_position  # noqa: F401 - part of this module's interface

DETECT_FRACTION = 0.03  # smoothed pixels above 3% of the peak are emission; MiraBest's clip zeroes the background
MAJOR_FRACTION = 0.2  # an island with this share of the brightest island's flux is part of the galaxy, however far
PEAK_FRACTION = 0.35  # a local maximum is a "bright centroid" above 35% of the image peak
PEAK_SEPARATION = 7  # px; closer maxima are one centroid (about two beams)
ASSOCIATION_PX = 20.0  # a component this close to the main source (edge to edge) is part of it
MIN_PIXELS = 10  # islands smaller than about a beam (3 px FWHM, smoothed) are noise the clip let through


@dataclass
class Blob:
    """One connected island of emission."""

    x: float  # flux-weighted centroid
    y: float
    flux: float
    area: int
    peak_x: int
    peak_y: int
    elongation: float  # major / minor axis from second moments (1 = round)
    angle_deg: float  # major-axis angle, degrees counter-clockwise from +x, in [0, 180)
    pixels: np.ndarray  # (n, 2) x, y


@dataclass
class Morphology:
    """What the describer knows about an image."""

    shape: tuple[int, int]
    blobs: list[Blob]
    main: list[int]  # indices of blobs forming the central galaxy
    unassociated: list[int]
    peaks: list[tuple[int, int, float]]  # (x, y, brightness 0-1) within the main source, brightest first
    centre: tuple[float, float]  # flux centroid of the main source
    axis_deg: float  # main source's major axis
    ends: list[tuple[float, float]] = field(default_factory=list)  # the two extremities along the axis
    extent_px: float = 0.0
    elongation: float = 1.0
    brightening: str = "none"  # core: brightest near the middle; edge: at both ends; lopsided: at one end
    bend_deg: float = 0.0  # deviation of the two arms from a straight line


def _moments(pix: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Major and minor second moments and the major-axis angle of weighted pixels."""
    x, y = pix[:, 0], -pix[:, 1]  # flip y so angles run counter-clockwise on the sky
    wx, wy = np.average(x, weights=w), np.average(y, weights=w)
    cxx = np.average((x - wx) ** 2, weights=w)
    cyy = np.average((y - wy) ** 2, weights=w)
    cxy = np.average((x - wx) * (y - wy), weights=w)
    evals = np.linalg.eigvalsh(np.array([[cxx, cxy], [cxy, cyy]]))
    lo, hi = max(float(evals[0]), 1e-6), max(float(evals[1]), 1e-6)
    angle = 0.5 * math.degrees(math.atan2(2 * cxy, cxx - cyy)) % 180.0
    return hi, lo, angle


def find_blobs(image: np.ndarray) -> list[Blob]:
    """Connected islands above DETECT_FRACTION of the peak, brightest first."""
    img = image.astype(np.float64)
    peak = img.max()
    if peak <= 0:
        return []
    smooth = ndimage.gaussian_filter(img, 1.0)  # bridges single-pixel gaps the clip leaves inside lobes
    labels, n = ndimage.label(smooth > DETECT_FRACTION * smooth.max(), structure=np.ones((3, 3)))
    blobs = []
    for k in range(1, n + 1):
        ys, xs = np.nonzero(labels == k)
        if len(xs) < MIN_PIXELS:
            continue
        w = img[ys, xs] + 1e-9  # the smoothed mask reaches a few zero-valued pixels
        pix = np.stack([xs, ys], axis=1).astype(float)
        hi, lo, angle = _moments(pix, w)
        j = int(np.argmax(w))
        blobs.append(
            Blob(
                x=float(np.average(xs, weights=w)),
                y=float(np.average(ys, weights=w)),
                flux=float(w.sum()),
                area=len(xs),
                peak_x=int(xs[j]),
                peak_y=int(ys[j]),
                elongation=math.sqrt(hi / lo),
                angle_deg=angle,
                pixels=pix,
            )
        )
    return sorted(blobs, key=lambda b: -b.flux)


def _gap(a: Blob, b: Blob) -> float:
    """Smallest pixel distance between two islands."""
    d = a.pixels[:, None, :] - b.pixels[None, :, :]
    return float(np.sqrt((d**2).sum(-1)).min())


def find_peaks(image: np.ndarray, mask: np.ndarray) -> list[tuple[int, int, float]]:
    """Local maxima above PEAK_FRACTION of the peak inside `mask`, brightest first."""
    img = ndimage.gaussian_filter(image.astype(np.float64), 1.0)
    top = img.max()
    if top <= 0:
        return []
    local = img == ndimage.maximum_filter(img, size=PEAK_SEPARATION)
    ys, xs = np.nonzero(local & mask & (img >= PEAK_FRACTION * top))
    order = np.argsort(-img[ys, xs], kind="stable")
    return [(int(xs[i]), int(ys[i]), float(img[ys[i], xs[i]] / top)) for i in order]


def analyse(image: np.ndarray) -> Morphology:
    """Measure an image's morphology (see the module docstring for the conventions)."""
    blobs = find_blobs(image)
    if not blobs:
        return Morphology(
            shape=image.shape,
            blobs=[],
            main=[],
            unassociated=[],
            peaks=[],
            centre=(image.shape[1] / 2, image.shape[0] / 2),
            axis_deg=0.0,
        )
    # grow the central galaxy from the brightest island by proximity, so separated lobes join it
    main = [0]
    changed = True
    while changed:
        changed = False
        for i, b in enumerate(blobs):
            if i not in main and (
                b.flux > MAJOR_FRACTION * blobs[0].flux or any(_gap(b, blobs[j]) < ASSOCIATION_PX for j in main)
            ):
                main.append(i)
                changed = True
    main.sort()
    unassoc = [i for i in range(len(blobs)) if i not in main]
    pix = np.concatenate([blobs[i].pixels for i in main])
    w = image[pix[:, 1].astype(int), pix[:, 0].astype(int)].astype(np.float64)
    hi, lo, axis = _moments(pix, w)
    cx, cy = float(np.average(pix[:, 0], weights=w)), float(np.average(pix[:, 1], weights=w))
    u = np.array([math.cos(math.radians(axis)), -math.sin(math.radians(axis))])
    proj = (pix - [cx, cy]) @ u
    ends = [tuple(map(float, pix[int(np.argmin(proj))])), tuple(map(float, pix[int(np.argmax(proj))]))]
    half = max(float(proj.max() - proj.min()) / 2.0, 1.0)
    mask = np.zeros(image.shape, dtype=bool)
    mask[pix[:, 1].astype(int), pix[:, 0].astype(int)] = True
    peaks = find_peaks(image, mask)
    brightening = "none"
    if peaks and half > 6:
        mid = (proj.max() + proj.min()) / 2.0
        pos = [abs((np.array([px, py]) - [cx, cy]) @ u - mid) / half for px, py, _ in peaks[:2]]
        if pos[0] < 0.35:
            brightening = "core"
        elif pos[0] >= 0.55:
            brightening = "edge" if len(pos) > 1 and pos[1] >= 0.5 else "lopsided"
    # bending: angle at the flux peak between the directions to the two ends
    bend = 0.0
    if peaks and half > 6:
        px, py = peaks[0][0], peaks[0][1]
        vecs = [np.array(e) - [px, py] for e in ends]
        norms = [np.linalg.norm(v) for v in vecs]
        if min(norms) > 6:
            cosang = float(vecs[0] @ vecs[1] / (norms[0] * norms[1]))
            bend = 180.0 - math.degrees(math.acos(max(-1.0, min(1.0, cosang))))
    return Morphology(
        shape=image.shape,
        blobs=blobs,
        main=main,
        unassociated=unassoc,
        peaks=peaks,
        centre=(cx, cy),
        axis_deg=axis,
        ends=ends,
        extent_px=2.0 * half,
        elongation=math.sqrt(hi / lo),
        brightening=brightening,
        bend_deg=bend,
    )
