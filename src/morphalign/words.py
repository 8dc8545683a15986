"""Words for where things are in an image, which way they run and how large they are.

Shared by the two caption writers (the offline describer of the FR dataset, and the pretraining corpus), so that
the base model learns in pretraining the same spatial words the FR captions use. Coordinates are (x, y) =
(column, row), row 0 at the top; angles are degrees counter-clockwise from +x (image right).
"""

from __future__ import annotations

import math


def frame_position(x: float, y: float, shape: tuple[int, int]) -> str:
    """Where (x, y) sits in a 3 x 3 division of the frame: 'center', 'upper left', 'right', ..."""
    h, w = shape
    col = "left" if x < w / 3 else ("right" if x > 2 * w / 3 else "")
    row = "upper" if y < h / 3 else ("lower" if y > 2 * h / 3 else "")
    if not row and not col:
        return "center"
    if not row:
        return col
    if not col:
        return {"upper": "top", "lower": "bottom"}[row]
    return f"{row} {col}"


def direction_word(dx: float, dy: float) -> str:
    """Compass-like word for a direction in image coordinates (dy > 0 points down)."""
    ang = math.degrees(math.atan2(-dy, dx)) % 360.0
    names = ["right", "upper right", "top", "upper left", "left", "lower left", "bottom", "lower right"]
    return names[int(((ang + 22.5) % 360) // 45)]


def orientation(angle_deg: float) -> str:
    """A long axis in words: horizontal, vertical, or one of the two diagonals."""
    a = angle_deg % 180
    if a < 22.5 or a >= 157.5:
        return "horizontal"
    if 67.5 <= a < 112.5:
        return "vertical"
    # the two diagonals differ in words, not only in word order, which a small text model reads poorly
    return "diagonal, rising toward the upper right" if a < 67.5 else "diagonal, falling toward the lower right"


def size_word(extent_px: float) -> str:
    """How large something is in a 150 px frame: tiny, small, medium-sized or large."""
    if extent_px < 8:
        return "tiny"
    if extent_px < 30:
        return "small"
    if extent_px < 65:
        return "medium-sized"
    return "large"
