"""The `shuffled` caption backend: another prompt's captions, permuted over the training images (a control).

Each names what it controls for:

- `shuffle: all` permutes the source prompt's captions across the whole training pool (train and validation rows):
  a caption now describes a random other galaxy, so any gain that survives it does not come from what a caption
  says about its own image;
- `shuffle: within_class` permutes them only among training images of the same class: a caption still comes from
  the right class but describes another galaxy, which separates class-level from instance-level information.

Test rows keep their true captions, so the trained model is evaluated on real pairs, like every other prompt. The
permutation is seeded (`shuffle_seed`) and is a derangement where the group allows one, so no training image keeps
its own caption.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from morphalign.artifacts import load_captions
from morphalign.captions.backends import Context, Prompt
from morphalign.errors import MorphalignError

MODES = ("all", "within_class")


def derangement(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`rows` in a random order with no row left in place (for two rows or more)."""
    if len(rows) < 2:
        return rows.copy()
    shift = rng.permutation(len(rows))  # a random cycle through all rows moves every row
    out = rows.copy()
    out[shift] = rows[np.roll(shift, 1)]
    return out


def shuffle_captions(
    captions: list[str], labels: np.ndarray, pool: np.ndarray, mode: str, seed: int
) -> tuple[list[str], np.ndarray]:
    """The captions with the pool's rows permuted (`mode` all or within_class); and where each caption came from."""
    if mode not in MODES:
        raise MorphalignError(f"shuffle must be one of {MODES}, got {mode!r}")
    rng = np.random.default_rng([seed, 17])
    source = np.arange(len(captions))
    groups = [pool] if mode == "all" else [pool[labels[pool] == c] for c in np.unique(labels[pool])]
    for rows in groups:
        source[rows] = derangement(rows, rng)
    return [captions[i] for i in source], source


class ShuffledBackend:
    """Captions of `source_csv` (another prompt's table), shuffled over the training pool."""

    name = "shuffled"

    def __init__(self, source: str, source_csv: str, mode: str, seed: int) -> None:
        if mode not in MODES:
            raise MorphalignError(f"prompts.*.shuffle must be one of {MODES}, got {mode!r}")
        self.source_csv, self.mode, self.seed = source_csv, mode, seed
        self.model = f"shuffled:{mode} of {source}"

    def caption(self, images: np.ndarray, manifest: pd.DataFrame, prompt: Prompt) -> pd.DataFrame:
        ids = manifest["id"].astype(str).tolist()
        captions = load_captions(self.source_csv, ids)
        labels = manifest["label"].to_numpy().astype(int)
        pool = np.flatnonzero(manifest["split"].isin(["train", "val"]).to_numpy())
        shuffled, source = shuffle_captions(captions, labels, pool, self.mode, self.seed)
        return pd.DataFrame({"caption": shuffled, "caption_of": [ids[i] for i in source]})


def make_backend(prompt: Prompt, context: Context) -> ShuffledBackend:
    """The backend registered as `shuffled`: `source` names the prompt whose captions are shuffled."""
    o = prompt.options
    for key in ("source", "shuffle", "source_csv"):
        if not o.get(key):
            raise MorphalignError(f"prompts.{prompt.name}: the shuffled backend needs `{key}`")
    return ShuffledBackend(str(o["source"]), str(o["source_csv"]), str(o["shuffle"]), int(o.get("shuffle_seed", 0)))
