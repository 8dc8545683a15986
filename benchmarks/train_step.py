"""Benchmark: one LoRA training step of SigLIP-2 base, per target, split into its parts, against a naive loop.

    python benchmarks/train_step.py [--targets vision text full] [--batch 16] [--steps 3] [--real-vocab]
                                    [--checkpointing off on] [--threads 2] [--embed-rows 64]

The model has SigLIP-2 base's sizes (`morphalign.model.sizes`) and random weights, built offline; the data are
random 150 px images and random 64-token captions (speed does not depend on the values). Each target and
checkpointing setting runs in its own process, so its peak RSS is its own. In that process:

- the pipeline's step (`morphalign.train.towers`): cached uint8 pixels scaled on the fly, the frozen tower's
  embeddings read from a cache, LoRA on the target's towers, the sigmoid loss, AdamW. Timed in four parts: data
  (pixels and ids to tensors), forward (towers and loss), backward, optimiser;
- then a naive step in the same process, as a first implementation would write it: the processor resizes and
  tokenises every batch, and the full model runs both towers every step;
- peak RSS is read after the pipeline's steps and before the naive ones.

Then the base model's embedding throughput (images/s and captions/s, eval mode). Prints one table.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from morphalign.model.encode import encode_images, encode_texts
from morphalign.model.lora import apply_lora
from morphalign.model.loss import sigmoid_loss
from morphalign.model.preprocess import PixelSpec, resize_images
from morphalign.model.sizes import BASE_VOCAB, IMAGE_SIZE, MAX_LENGTH, build_base
from morphalign.model.tiny import build_tokenizer, siglip_image_processor
from morphalign.runs import TARGETS
from morphalign.train.towers import Pairs, Towers, frozen_features

QUICK_VOCAB = 32_000  # the text tower's lookup table; its size changes memory, not speed
ATTN = ["q_proj", "k_proj", "v_proj", "out_proj"]  # the default config's LoRA modules


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random 150 px uint8 images (RGB, as MiraBest's after conversion) and n random 64-token id rows."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 150, 150), dtype=np.uint8)
    ids = rng.integers(5, 800, size=(n, MAX_LENGTH), dtype=np.int64)
    return images, ids


def worker(target: str, batch: int, steps: int, vocab: int, checkpointing: bool) -> dict:
    """Time the pipeline's step and a naive step for one target, in this process; return the figures."""
    trained = TARGETS[target].towers
    n = batch * (steps + 1)
    images, ids = data(n)
    spec = PixelSpec.from_processor(siglip_image_processor(IMAGE_SIZE))
    t0 = time.perf_counter()
    model = apply_lora(build_base(vocab), target, r=8, alpha=16, dropout=0.1, module_names=ATTN, scope="encoder")
    load_s = time.perf_counter() - t0
    if checkpointing:
        model.base_model.model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    towers = Towers(model)
    pairs = Pairs(resize_images(images, spec), ids, np.arange(n), np.arange(0), spec, True)
    frozen = frozen_features(towers, pairs, trained, "cpu")  # the sweep's cache, computed here once
    opt = torch.optim.AdamW([p for p in towers.parameters() if p.requires_grad], lr=1e-4)
    parts: dict[str, list[float]] = {"data": [], "forward": [], "backward": [], "optimiser": []}
    towers.train()
    for step in range(steps + 1):  # the first step warms up and is not counted
        rows = np.arange(step * batch, (step + 1) * batch)
        t = [time.perf_counter()]
        px = pairs.images(rows, "cpu") if "vision" in trained else None
        tok = pairs.tokens(rows, "cpu") if "text" in trained else None
        t.append(time.perf_counter())
        img, txt, scale, bias = towers(pixels=px, input_ids=tok)
        cached = frozen[torch.as_tensor(rows)] if frozen is not None else None
        img, txt = (cached if img is None else img), (cached if txt is None else txt)
        loss = sigmoid_loss(img.float(), txt.float(), scale, bias)
        t.append(time.perf_counter())
        loss.backward()
        t.append(time.perf_counter())
        opt.step()
        opt.zero_grad()
        t.append(time.perf_counter())
        if step:
            for k, a, b in zip(parts, t, t[1:], strict=False):
                parts[k].append(b - a)
    rss = peak_rss_mb()
    step_s = {k: statistics.median(v) for k, v in parts.items()}

    processor = siglip_image_processor(IMAGE_SIZE)
    tokenizer = build_tokenizer(800)
    words = [" ".join(tokenizer.convert_ids_to_tokens(r.tolist())).replace("▁", "") for r in ids]
    naive = []
    base = model.base_model.model
    for step in range(steps + 1):
        rows = slice(step * batch, (step + 1) * batch)
        t0 = time.perf_counter()
        rgb = [np.repeat(im[..., None], 3, axis=2) for im in images[rows]]
        px = processor(images=rgb, return_tensors="pt")["pixel_values"]
        tok = tokenizer(words[rows], padding="max_length", max_length=MAX_LENGTH, truncation=True, return_tensors="pt")
        out = base(input_ids=tok["input_ids"], pixel_values=px)
        loss = sigmoid_loss(out.image_embeds, out.text_embeds, base.logit_scale, base.logit_bias)
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step:
            naive.append(time.perf_counter() - t0)
    total = sum(step_s.values())
    return {
        "target": target,
        "checkpointing": checkpointing,
        "batch": batch,
        "vocab": vocab,
        "load_s": load_s,
        **{f"{k}_s": v for k, v in step_s.items()},
        "step_s": total,
        "naive_step_s": statistics.median(naive),
        "ratio_to_naive": total / statistics.median(naive),
        "peak_rss_mb": rss,
    }


def throughput(rows: int, vocab: int) -> dict:
    """Images/s and captions/s of the base model in eval mode (`model.encode`, batches of 64)."""
    images, ids = data(rows)
    spec = PixelSpec.from_processor(siglip_image_processor(IMAGE_SIZE))
    model = build_base(vocab)
    resized = resize_images(images, spec)
    t0 = time.perf_counter()
    encode_images(model, resized, spec, True)
    t1 = time.perf_counter()
    encode_texts(model, ids)
    t2 = time.perf_counter()
    return {"images_per_s": rows / (t1 - t0), "captions_per_s": rows / (t2 - t1), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", nargs="+", default=["vision", "text", "full"], choices=["vision", "text", "full"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    ap.add_argument("--real-vocab", action="store_true", help=f"the real {BASE_VOCAB:,}-row text embedding")
    ap.add_argument("--checkpointing", nargs="+", default=["off"], choices=["off", "on"])
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the machine's cores)")
    ap.add_argument("--embed-rows", type=int, default=64, help="rows for the embedding throughput (0: skip)")
    ap.add_argument("--worker", nargs=2, metavar=("TARGET", "CHECKPOINTING"), help=argparse.SUPPRESS)
    ap.add_argument("--throughput", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    vocab = BASE_VOCAB if args.real_vocab else QUICK_VOCAB
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.batch, args.steps, vocab, args.worker[1] == "on")))
        return
    if args.throughput:
        print(json.dumps(throughput(args.embed_rows, vocab)))
        return

    def child(*extra: str) -> dict:
        cmd = [sys.executable, __file__, "--batch", str(args.batch), "--steps", str(args.steps)]
        cmd += ["--threads", str(args.threads), "--embed-rows", str(args.embed_rows), *extra]
        cmd += ["--real-vocab"] if args.real_vocab else []
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"train_step: {' '.join(extra)} failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    print(
        f"SigLIP-2 base sizes, random weights, text vocabulary {vocab:,}; batch {args.batch}; "
        f"{args.threads} threads; median of {args.steps} steps after one warm-up; torch {torch.__version__}"
    )
    print()
    cols = ["target", "checkpointing", "data s", "forward s", "backward s", "optimiser s", "step s", "naive s"]
    cols += ["ratio", "peak RSS MB"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    rows = []
    for target in args.targets:
        for ck in args.checkpointing:
            r = child("--worker", target, ck)
            rows.append(r)
            print(
                f"| {target} | {ck} | {r['data_s']:.3f} | {r['forward_s']:.2f} | {r['backward_s']:.2f} | "
                f"{r['optimiser_s']:.3f} | {r['step_s']:.2f} | {r['naive_step_s']:.2f} | {r['ratio_to_naive']:.2f} | "
                f"{r['peak_rss_mb']:,.0f} |",
                flush=True,
            )
    for target in args.targets:
        on = [r for r in rows if r["target"] == target and r["checkpointing"]]
        off = [r for r in rows if r["target"] == target and not r["checkpointing"]]
        if on and off:
            print(
                f"checkpointing, {target}: peak RSS {off[0]['peak_rss_mb']:,.0f} -> {on[0]['peak_rss_mb']:,.0f} MB, "
                f"step {off[0]['step_s']:.2f} -> {on[0]['step_s']:.2f} s"
            )
    if args.embed_rows:
        t = child("--throughput")
        rate = f"{t['images_per_s']:.1f} images/s, {t['captions_per_s']:.1f} captions/s"
        print(f"embedding, eval mode, {t['rows']} rows: {rate}")


if __name__ == "__main__":
    main()
