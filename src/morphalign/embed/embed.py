"""Embed a dataset's images and captions with the base model, plus a LoRA adapter when the run trained one.

Writes the embeddings format of `artifacts` (`train_image, train_text, test_image, test_text`, labels and row ids);
"train" is the whole training pool (train and validation rows), which the probes are fitted on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from morphalign.artifacts import load_caches, load_dataset, save_embeddings
from morphalign.embed.zero_shot import class_embeddings
from morphalign.model.adapter import load_adapted
from morphalign.model.encode import embed_all
from morphalign.model.load import load_processor
from morphalign.model.preprocess import PixelSpec
from morphalign.runs import RunConfig


def embed(
    cfg: RunConfig,
    model_path: str,
    dataset_dir: str | Path,
    pixels_path: str | Path,
    tokens_path: str | Path,
    out_path: str | Path,
    adapter_dir: str | Path | None = None,
    cache_dir: str | None = None,
    class_prompts: str | Path | None = None,
) -> dict[str, Any]:
    """Compute and write the embeddings of one run; return timing and sizes.

    With `class_prompts` (a file of `zero_shot.write_class_prompts`), also the ensembled class-prompt embeddings
    (`class_text`, `class_names`) for zero-shot classification.
    """
    t0 = time.time()
    torch.manual_seed(cfg.run.rng_seed)
    ds = load_dataset(dataset_dir)
    pixels, ids = load_caches(pixels_path, tokens_path, len(ds.images))
    model = load_adapted(model_path, cache_dir, adapter_dir)
    processor = load_processor(model_path, cache_dir)
    spec = PixelSpec.from_processor(processor)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    normalize = cfg.preprocess.pixel_norm == "siglip"
    image, text = embed_all(model, pixels, ids, spec, normalize, device=device)
    pool, test = ds.pool_index(), ds.split_index("test")
    labels = ds.manifest["label"].to_numpy().astype(np.int64)
    row_ids = np.asarray(ds.manifest["id"].astype(str).tolist(), dtype=np.str_)
    extra = {}
    if class_prompts is not None:
        pre = cfg.preprocess
        class_text, names = class_embeddings(
            model, processor.tokenizer, class_prompts, pre.max_length, pre.lowercase, device
        )
        extra = {"class_text": class_text, "class_names": names}
    save_embeddings(
        out_path,
        train_image=image[pool],
        train_text=text[pool],
        test_image=image[test],
        test_text=text[test],
        train_label=labels[pool],
        test_label=labels[test],
        train_id=row_ids[pool],
        test_id=row_ids[test],
        **extra,
    )
    return {"rows": len(image), "dim": int(image.shape[1]), "seconds": round(time.time() - t0, 3)}
