"""The captioning stage: one prompt over one dataset, written as a captions table.

Table columns: `id, prompt, caption, backend, model, created` (one row per image, dataset order), plus any columns
a backend adds (`edited` for the published captions; `status`, `finish_reason` for Gemini) and, with an overrides
file, `edited`, `original_caption` and `note`. The table is validated before it is written, so an empty
caption stops the stage and nothing is left behind.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from morphalign.captions.backends import Context, Prompt, make_backend
from morphalign.data.dataset import load_dataset
from morphalign.errors import MorphalignError
from morphalign.io import write_csv

COLUMNS = ("id", "prompt", "caption", "backend", "model", "created")


def check_captions(table: pd.DataFrame, where: str) -> None:
    """Fail naming the row if a caption is missing or blank, or a column is absent."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise MorphalignError(f"{where}: captions table lacks column(s) {missing}")
    blank = table["caption"].isna() | (table["caption"].astype(str).str.strip() == "")
    if blank.any():
        i = int(blank.to_numpy().nonzero()[0][0])
        raise MorphalignError(
            f"{where}: empty caption for id {table['id'].iloc[i]!r} (row {i}, prompt {table['prompt'].iloc[i]!r})"
        )


def run_captions(
    dataset_dir: str | Path,
    prompt: Prompt,
    out_csv: str | Path,
    context: Context | None = None,
    overrides: str | Path | None = None,
) -> pd.DataFrame:
    """Caption every image of a dataset under `prompt` and write the table atomically."""
    if not prompt.text.strip():
        raise MorphalignError(f"prompts.{prompt.name}.text is empty: every prompt needs its text")
    backend = make_backend(prompt, context)  # first: a missing API key stops the stage before any work
    ds = load_dataset(dataset_dir)
    ids = ds.manifest["id"].astype(str).tolist()
    result = backend.caption(ds.images, ds.manifest, prompt)
    extra = result.drop(columns=["caption"]) if isinstance(result, pd.DataFrame) else pd.DataFrame()
    captions = result["caption"].tolist() if isinstance(result, pd.DataFrame) else list(result)
    if len(captions) != len(ids):
        raise MorphalignError(
            f"backend {backend.name!r} returned {len(captions)} captions for {len(ids)} images (prompt {prompt.name})"
        )
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    table = pd.DataFrame(
        {
            "id": ids,
            "prompt": prompt.name,
            "caption": captions,
            "backend": backend.name,
            "model": backend.model,
            "created": now,
        }
    )
    for column in extra.columns:
        table[column] = extra[column].to_numpy()
    if overrides is not None:
        from morphalign.captions.overrides import apply_overrides, load_overrides

        table = apply_overrides(table, load_overrides(overrides, prompt.name, set(ids)))
    check_captions(table, str(out_csv))
    write_csv(out_csv, table)
    return table


def load_captions(path: str | Path, ids: list[str]) -> list[str]:
    """Read a captions table and return captions in the order of `ids`, failing on gaps or blanks."""
    path = Path(path)
    if not path.is_file():
        raise MorphalignError(f"{path}: captions table not found")
    table = pd.read_csv(path, dtype={"id": str, "caption": str}, keep_default_na=False)
    table["caption"] = table["caption"].replace("", None)
    check_captions(table, str(path))
    by_id = dict(zip(table["id"], table["caption"], strict=True))
    absent = [i for i in ids if i not in by_id]
    if absent:
        raise MorphalignError(f"{path}: no caption for {len(absent)} image(s), first {absent[0]!r}")
    return [by_id[i] for i in ids]
