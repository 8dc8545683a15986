"""The frozen towers, embedded once per sweep: the base model's image features per dataset, its text features per
prompt, and its class-prompt embeddings.

A run's LoRA leaves a tower untouched (the image tower of a `text` run, the text tower of a `vision` run, both of
the `frozen` baseline), and an untouched tower's embeddings are the base model's: the same for every run and seed,
and, for images, for every prompt. So they are computed here once, and training and embedding read them instead of
running the tower again (`compute.frozen_towers`).

Every file holds every dataset row in dataset order (float32), computed in the batches `model.encode` uses
everywhere, so a cached embedding is bit-identical to one computed inside a run.

    python -m morphalign.embed.frozen image --model M --dataset D --pixels P --pixel-norm siglip --out image.npy
    python -m morphalign.embed.frozen text --model M --dataset D --tokens T --out text.npy
    python -m morphalign.embed.frozen class-text --model M --class-prompts C --max-length 64 --lowercase --out c.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from morphalign.artifacts import load_dataset, load_rows
from morphalign.embed.zero_shot import class_embeddings
from morphalign.errors import MorphalignError
from morphalign.io import save_npy, save_npz
from morphalign.model.device import check_gpus
from morphalign.model.encode import encode_images, encode_texts
from morphalign.model.load import load_model, load_processor
from morphalign.model.preprocess import PixelSpec
from morphalign.scripting import run_cli


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _base(model_path: str, cache_dir: str | None):
    return load_model(model_path, cache_dir).to(_device())


def frozen_image(
    model_path: str, cache_dir: str | None, dataset_dir: str | Path, pixels_path: str | Path, pixel_norm: str, out
) -> dict[str, Any]:
    """The base model's image embeddings of every dataset row."""
    n = len(load_dataset(dataset_dir).images)
    spec = PixelSpec.from_processor(load_processor(model_path, cache_dir))
    feats = encode_images(
        _base(model_path, cache_dir), load_rows(pixels_path, n), spec, pixel_norm == "siglip", device=_device()
    )
    save_npy(out, feats)
    return {"rows": len(feats), "dim": int(feats.shape[1])}


def frozen_text(
    model_path: str, cache_dir: str | None, dataset_dir: str | Path, tokens_path: str | Path, out
) -> dict[str, Any]:
    """The base model's text embeddings of every caption of one prompt."""
    n = len(load_dataset(dataset_dir).images)
    feats = encode_texts(_base(model_path, cache_dir), load_rows(tokens_path, n, "input_ids"), device=_device())
    save_npy(out, feats)
    return {"rows": len(feats), "dim": int(feats.shape[1])}


def frozen_class_text(
    model_path: str, cache_dir: str | None, class_prompts: str | Path, max_length: int, lowercase: bool, out
) -> dict[str, Any]:
    """The base model's ensembled class-prompt embeddings (`zero_shot.class_embeddings`)."""
    tokenizer = load_processor(model_path, cache_dir).tokenizer
    class_text, names = class_embeddings(
        _base(model_path, cache_dir), tokenizer, class_prompts, max_length, lowercase, _device()
    )
    save_npz(out, class_text=class_text, class_names=names)
    return {"classes": len(names)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.embed.frozen", description="Embed a frozen tower once.")
    ap.add_argument("what", choices=["image", "text", "class-text"])
    ap.add_argument("--model", required=True, help="the base model: a folder written by save_pretrained, or a Hub id")
    ap.add_argument("--model-cache-dir", default=None, help="Hub download cache for a Hub id")
    ap.add_argument("--dataset", help="dataset folder (image and text)")
    ap.add_argument("--pixels", help="resized-image cache (image)")
    ap.add_argument("--pixel-norm", choices=["siglip", "none"], default="siglip", help="pixel scaling (image)")
    ap.add_argument("--tokens", help="token cache of one prompt (text)")
    ap.add_argument("--class-prompts", help="class prompts JSON (class-text)")
    ap.add_argument("--max-length", type=int, default=64, help="text length (class-text)")
    ap.add_argument("--lowercase", action="store_true", help="lowercase the prompts (class-text)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--gpus-requested", type=int, default=0, help="GPUs the job asked SLURM for (the rule's gpu)")
    ap.add_argument("--no-gpu-guard", action="store_true", help="run on the CPU even when SLURM gave GPUs")
    args = ap.parse_args(argv)
    needs = {"image": ("dataset", "pixels"), "text": ("dataset", "tokens"), "class-text": ("class_prompts",)}

    def body() -> None:
        missing = [f"--{k.replace('_', '-')}" for k in needs[args.what] if getattr(args, k) is None]
        if missing:
            raise MorphalignError(f"{args.what}: missing {' '.join(missing)}")
        print(f"devices: {check_gpus(args.gpus_requested, not args.no_gpu_guard)}", file=sys.stderr)
        m, c = args.model, args.model_cache_dir
        if args.what == "image":
            info = frozen_image(m, c, args.dataset, args.pixels, args.pixel_norm, args.out)
        elif args.what == "text":
            info = frozen_text(m, c, args.dataset, args.tokens, args.out)
        else:
            info = frozen_class_text(m, c, args.class_prompts, args.max_length, args.lowercase, args.out)
        print(f"frozen {args.what}: {info}", file=sys.stderr)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
