"""Embed a dataset's images and captions with the base model, plus a LoRA adapter when the run trained one.

Writes the embeddings format of `artifacts` (`train_image, train_text, test_image, test_text`, labels and row ids);
"train" is the whole training pool (train and validation rows), which the probes are fitted on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from morphalign.artifacts import load_caches, load_dataset, load_rows, save_embeddings
from morphalign.embed.zero_shot import class_embeddings
from morphalign.model.adapter import load_adapted
from morphalign.model.encode import encode_images, encode_texts
from morphalign.model.load import load_processor
from morphalign.model.preprocess import PixelSpec
from morphalign.runs import TARGETS, RunConfig


@dataclass(frozen=True)
class FrozenFeatures:
    """The cached embeddings of the frozen towers (`embed.frozen`); a run takes those of the towers it left alone."""

    image: Path | None = None  # N x d .npy, every dataset row
    text: Path | None = None  # N x d .npy of the captions the run is scored on
    class_text: Path | None = None  # .npz of class_text and class_names

    @classmethod
    def of(cls, **paths: str | Path | None) -> FrozenFeatures:
        return cls(**{k: Path(v) if v is not None else None for k, v in paths.items()})


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
    frozen: FrozenFeatures | None = None,
) -> dict[str, Any]:
    """Compute and write the embeddings of one run; return timing, sizes and which towers ran.

    With `class_prompts` (a file of `zero_shot.write_class_prompts`), also the ensembled class-prompt embeddings
    (`class_text`, `class_names`) for zero-shot classification. With `frozen`, a tower the run's LoRA left alone is
    read from the cache instead of run: a `text` run runs the text tower only, and the `frozen` run none.
    """
    t0 = time.time()
    torch.manual_seed(cfg.run.rng_seed)
    frozen = frozen or FrozenFeatures()
    changed = TARGETS[cfg.run.target].towers
    ds = load_dataset(dataset_dir)
    n = len(ds.images)
    pixels, ids = load_caches(pixels_path, tokens_path, n)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    normalize = cfg.preprocess.pixel_norm == "siglip"
    model = processor = None

    def loaded():
        nonlocal model, processor
        if model is None:
            model = load_adapted(model_path, cache_dir, adapter_dir).to(device)
            processor = load_processor(model_path, cache_dir)
        return model, processor

    ran = []
    if frozen.image is not None and "vision" not in changed:
        image = load_rows(frozen.image, n)
    else:
        m, proc = loaded()
        image = encode_images(m, pixels, PixelSpec.from_processor(proc), normalize, device=device)
        ran.append("vision")
    if frozen.text is not None and "text" not in changed:
        text = load_rows(frozen.text, n)
    else:
        text = encode_texts(loaded()[0], ids, device=device)
        ran.append("text")
    pool, test = ds.pool_index(), ds.split_index("test")
    labels = ds.manifest["label"].to_numpy().astype(np.int64)
    row_ids = np.asarray(ds.manifest["id"].astype(str).tolist(), dtype=np.str_)
    extra = {}
    if class_prompts is not None:
        if frozen.class_text is not None and "text" not in changed:
            with np.load(frozen.class_text, allow_pickle=False) as z:
                extra = {"class_text": z["class_text"], "class_names": z["class_names"]}
        else:
            m, proc = loaded()
            pre = cfg.preprocess
            class_text, names = class_embeddings(
                m, proc.tokenizer, class_prompts, pre.max_length, pre.lowercase, device
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
    return {"rows": n, "dim": int(image.shape[1]), "towers_run": ran, "seconds": round(time.time() - t0, 3)}
