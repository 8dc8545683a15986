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

from morphalign.artifacts import check_captions, load_dataset
from morphalign.captions.backends import Context, Prompt, make_backend
from morphalign.errors import MorphalignError
from morphalign.io import write_csv


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
