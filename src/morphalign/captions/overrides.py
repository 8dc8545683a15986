"""Curation: an overrides file (`id, prompt, caption, note`) replaces generated captions.

The study hand-edited 23 test captions; users curate theirs the same way. Overrides are applied every time the
captions table is assembled, so they survive reruns and re-captioning. An overridden row has `edited = True`, its
generated text in `original_caption`, and the override's `note`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from morphalign.errors import MorphalignError

COLUMNS = ("id", "prompt", "caption", "note")


def load_overrides(path: str | Path, prompt: str, known_ids: set[str]) -> pd.DataFrame:
    """The overrides for one prompt, validated; errors name the file and row."""
    path = Path(path)
    if not path.is_file():
        raise MorphalignError(f"{path}: overrides file not found")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("id", "prompt", "caption") if c not in table.columns]
    if missing:
        raise MorphalignError(f"{path}: missing column(s) {missing} (expected {', '.join(COLUMNS)})")
    if "note" not in table.columns:
        table["note"] = ""
    table = table[table["prompt"] == prompt]
    for i, row in table.iterrows():
        where = f"{path}: row {i + 2}"
        if not row["caption"].strip():
            raise MorphalignError(f"{where}: empty caption for id {row['id']!r}")
        if row["id"] not in known_ids:
            raise MorphalignError(f"{where}: id {row['id']!r} is not in the dataset")
    dup = table["id"].duplicated()
    if dup.any():
        raise MorphalignError(f"{path}: id {table['id'][dup].iloc[0]!r} is overridden twice for prompt {prompt!r}")
    return table


def apply_overrides(table: pd.DataFrame, overrides: pd.DataFrame) -> pd.DataFrame:
    """Replace captions, keeping the generated text; mark the rows edited."""
    out = table.copy()
    if "edited" not in out.columns:
        out["edited"] = False
    out["edited"] = out["edited"].astype(bool)
    out["original_caption"] = ""
    out["note"] = ""
    by_id = overrides.set_index("id")
    hit = out["id"].isin(by_id.index)
    out.loc[hit, "original_caption"] = out.loc[hit, "caption"]
    out.loc[hit, "caption"] = out.loc[hit, "id"].map(by_id["caption"]).str.strip()
    out.loc[hit, "note"] = out.loc[hit, "id"].map(by_id["note"])
    out.loc[hit, "edited"] = True
    if "status" in out.columns:
        out.loc[hit, "status"] = "override"
    return out
