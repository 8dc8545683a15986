"""Stage caches: images resized once per dataset and model resolution, captions tokenised once per prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from morphalign.artifacts import load_captions, load_dataset
from morphalign.io import save_npy, save_npz, write_json
from morphalign.model.load import load_processor
from morphalign.model.preprocess import PixelSpec, resize_images, tokenize


def build_pixel_cache(dataset_dir: str | Path, model_path: str, cache_dir: str | None, out: str | Path) -> dict:
    """Resize every image to the model's resolution (uint8) and write one .npy."""
    ds = load_dataset(dataset_dir)
    spec = PixelSpec.from_processor(load_processor(model_path, cache_dir))
    save_npy(out, resize_images(ds.images, spec))
    return {"rows": len(ds.images), "size": spec.size}


def build_token_cache(
    dataset_dir: str | Path,
    captions_csv: str | Path,
    model_path: str,
    cache_dir: str | None,
    max_length: int,
    lowercase: bool,
    out: str | Path,
    stats_out: str | Path,
) -> dict[str, Any]:
    """Tokenise a prompt's captions in dataset order; write ids, truncation flags and a small stats JSON."""
    ds = load_dataset(dataset_dir)
    ids = ds.manifest["id"].astype(str).tolist()
    captions = load_captions(captions_csv, ids)
    tokens = tokenize(captions, load_processor(model_path, cache_dir).tokenizer, max_length, lowercase)
    save_npz(out, input_ids=tokens.input_ids, truncated=tokens.truncated, lengths=tokens.lengths)
    words = np.array([len(c.split()) for c in captions])
    stats = {
        "captions": len(captions),
        "truncated": int(tokens.truncated.sum()),
        "truncated_share": float(tokens.truncated.mean()),
        "max_length": max_length,
        "mean_tokens": float(tokens.lengths.mean()),
        "mean_words": float(words.mean()),
        "vocabulary": len({w.strip(".,;:!?()\"'").lower() for c in captions for w in c.split()} - {""}),
    }
    write_json(stats_out, stats)
    return stats
