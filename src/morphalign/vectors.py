"""Small vector helpers shared by the stages that compare embeddings (evaluate, report)."""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a_i, b_j) for all pairs, in float64."""
    return l2_normalize(a.astype(np.float64)) @ l2_normalize(b.astype(np.float64)).T
