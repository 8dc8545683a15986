"""Embed a dataset's images and captions with the base model, plus a LoRA adapter when the run trained one.

Writes the evaluation's input (`E.npz`): float arrays `train_image, train_text, test_image, test_text`, int arrays
`train_label, test_label`, and the row ids `train_id, test_id`. "train" here is the whole training pool (train and
validation rows), which the probes are fitted on; row i of each image array pairs with row i of the text array.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from morphalign.data.dataset import load_dataset
from morphalign.errors import MorphalignError
from morphalign.io import read_json, save_npz
from morphalign.model.encode import embed_all
from morphalign.model.load import load_model, load_processor
from morphalign.model.preprocess import PixelSpec
from morphalign.scripting import run_cli
from morphalign.train import LOGIT_PARAMS_FILE, load_cache


def load_adapted(run: dict[str, Any], adapter_dir: str | Path | None):
    """The base model, with the run's LoRA adapter (and trained logit parameters) when there is one."""
    model = load_model(run["model"]["path"], run["model"].get("cache_dir"))
    if adapter_dir is None:
        return model
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise MorphalignError(f"{adapter_dir}: no adapter_config.json; not a saved LoRA adapter")
    model = PeftModel.from_pretrained(model, adapter_dir)
    extra = adapter_dir / LOGIT_PARAMS_FILE
    if extra.is_file():
        state = torch.load(extra, weights_only=True)
        with torch.no_grad():
            model.base_model.model.logit_scale.copy_(state["logit_scale"])
            model.base_model.model.logit_bias.copy_(state["logit_bias"])
    return model.eval()


def embed(
    run: dict[str, Any],
    dataset_dir: str | Path,
    pixels_path: str | Path,
    tokens_path: str | Path,
    out_path: str | Path,
    adapter_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Compute and write the embeddings of one run; return timing and sizes."""
    t0 = time.time()
    torch.manual_seed(int(run["seed"]))
    ds = load_dataset(dataset_dir)
    pixels, ids = load_cache(pixels_path, tokens_path, len(ds.images))
    model = load_adapted(run, adapter_dir)
    spec = PixelSpec.from_processor(load_processor(run["model"]["path"], run["model"].get("cache_dir")))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    normalize = run["preprocess"]["pixel_norm"] == "siglip"
    image, text = embed_all(model, pixels, ids, spec, normalize, device=device)
    pool, test = ds.pool_index(), ds.split_index("test")
    labels = ds.manifest["label"].to_numpy().astype(np.int64)
    row_ids = np.asarray(ds.manifest["id"].astype(str).tolist(), dtype=np.str_)
    save_npz(
        out_path,
        train_image=image[pool],
        train_text=text[pool],
        test_image=image[test],
        test_text=text[test],
        train_label=labels[pool],
        test_label=labels[test],
        train_id=row_ids[pool],
        test_id=row_ids[test],
    )
    return {"rows": len(image), "dim": int(image.shape[1]), "seconds": round(time.time() - t0, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.embed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-config", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--pixels", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--adapter", default=None, help="LoRA adapter folder; omit for the frozen baseline")
    ap.add_argument("--out", required=True, help="output .npz")
    args = ap.parse_args(argv)
    return run_cli(
        lambda: embed(read_json(args.run_config), args.dataset, args.pixels, args.tokens, args.out, args.adapter)
    )


if __name__ == "__main__":
    sys.exit(main())
