"""The validation draw from a training pool, shared by every data source."""

from __future__ import annotations

import numpy as np

from morphalign.errors import MorphalignError


def draw_validation(n_pool: int, val_size: int, seed: int) -> np.ndarray:
    """Boolean mask over the training pool marking `val_size` rows drawn with `seed`."""
    if not 0 <= val_size < n_pool:
        raise MorphalignError(f"dataset.val_size={val_size} must be at least 0 and below the training pool ({n_pool})")
    rng = np.random.default_rng(seed)
    mask = np.zeros(n_pool, dtype=bool)
    mask[rng.choice(n_pool, size=val_size, replace=False)] = True
    return mask
