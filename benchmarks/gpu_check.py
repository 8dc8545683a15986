"""GPU check: a paper-size LoRA fine-tune on CUDA in bf16, on SigLIP-2 base sizes with random weights, offline.

    bash benchmarks/gpu_check.sh [--target full] [--epochs 2] [--batch 32] [--peak-tflops 989]

It runs the pipeline's own code end to end, as a SLURM job would: a base-size model folder (random weights, the real
256,000-row text embedding, the embedded tokenizer) is written; 833 synthetic radio galaxies (729 train of which 100
validation, 104 test, as MiraBest Confident) are drawn and captioned by the offline describer; the caches are built;
then `python -m morphalign.train.launch` trains one run with the paper's settings (batch 32, lr 2.5e-5, r 8) under
accelerate in bf16. It prints:

- the wall time of the fine-tuning job, model load included;
- the time per optimiser step (the second epoch's steps, warm);
- the peak GPU memory torch held (`peak_gpu_memory_mb` of the training log);
- the ratio of the step time to a compute bound: the step's matrix FLOPs (`model.sizes.flops_per_pair` x batch)
  over the GPU's peak dense bf16 rate (looked up by name, or `--peak-tflops`).

`--allow-cpu --tiny` runs the same path on the CPU with the tiny model, which the tests use to keep it working.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
# peak dense bf16 tensor-core rates (TFLOP/s) from the vendors' data sheets, by a substring of the device name
PEAK_BF16_TFLOPS = {"H200": 989, "H100 PCIe": 756, "H100": 989, "GH200": 989, "A100": 312, "L40S": 362, "L4": 121,
                    "A10": 125, "A40": 150, "RTX 6000 Ada": 365, "RTX A6000": 155, "V100": 125}  # fmt: skip


def peak_tflops(name: str) -> float | None:
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):  # "H100 PCIe" before "H100"
        if key in name:
            return PEAK_BF16_TFLOPS[key]
    return None


def write_model(folder: Path, tiny: bool) -> None:
    """The base-size model with random weights (or the tiny one), saved as a Hub checkpoint folder is."""
    from transformers import SiglipProcessor

    from morphalign.model.sizes import IMAGE_SIZE, build_base
    from morphalign.model.tiny import build_tokenizer, siglip_image_processor, write_tiny

    if tiny:
        write_tiny(folder)
        return
    build_base().save_pretrained(folder)
    tokenizer = build_tokenizer(800)  # ids only; the text tower's 256,000 rows are all there
    SiglipProcessor(image_processor=siglip_image_processor(IMAGE_SIZE), tokenizer=tokenizer).save_pretrained(folder)


def prepare(work: Path, tiny: bool) -> dict[str, Path]:
    """Model, dataset, captions and caches in `work`."""
    from morphalign.artifacts import write_dataset
    from morphalign.cache.build import build_pixel_cache, build_token_cache
    from morphalign.captions.backends import Prompt
    from morphalign.captions.stage import run_captions
    from morphalign.data.synthetic import generate

    paths = {k: work / v for k, v in [("model", "model"), ("data", "data"), ("captions", "curated.csv"),
                                      ("pixels", "pixels.npy"), ("tokens", "tokens.npz")]}  # fmt: skip
    write_model(paths["model"], tiny)
    images, manifest = generate(n_train=729, n_test=104, seed=2025, val_size=100, val_seed=42)
    write_dataset(paths["data"], images, manifest)
    run_captions(paths["data"], Prompt("curated", "Describe.", "describer", {"style": "curated"}), paths["captions"])
    build_pixel_cache(paths["data"], str(paths["model"]), None, paths["pixels"])
    build_token_cache(
        paths["data"], paths["captions"], str(paths["model"]), None, 64, True, paths["tokens"], work / "stats.json"
    )
    return paths


def run_config(work: Path, target: str, epochs: int, batch: int, precision: str) -> Path:
    from morphalign.config import run_config as resolve
    from morphalign.config import validate_config
    from morphalign.io import write_json
    from morphalign.runs import Run

    train = {"max_epochs": epochs, "patience": epochs + 1, "batch_size": batch, "mixed_precision": precision}
    cfg = validate_config({"train": train}, REPO / "workflow" / "schemas" / "config.schema.yaml")
    path = work / "run.json"
    write_json(path, resolve(cfg, Run("curated", target, 0)))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", default="full", choices=["vision", "text", "full"])
    ap.add_argument("--epochs", type=int, default=2, help="epochs (the second is timed per step)")
    ap.add_argument("--batch", type=int, default=32, help="the paper's batch")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the GPU's peak dense bf16 TFLOP/s")
    ap.add_argument("--work", default=None, help="keep the model, data and logs here (default: a temporary folder)")
    ap.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no GPU (plumbing only)")
    ap.add_argument("--tiny", action="store_true", help="the tiny model instead of base sizes (plumbing only)")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        sys.exit("gpu_check: torch sees no CUDA GPU (torch.cuda.is_available() is False); nothing to check")
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    precision = "bf16" if cuda else "no"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        paths = prepare(work, args.tiny)
        print(f"prepared model, 833 images, captions and caches in {time.perf_counter() - t0:.0f} s", flush=True)
        run = run_config(work, args.target, args.epochs, args.batch, precision)
        log = work / "train_log.json"
        cmd = [sys.executable, "-m", "morphalign.train.launch", "--accelerate-dir", str(REPO / "config" / "accelerate"),
               "--mixed-precision", precision, "--gpus-requested", "1" if cuda else "0", "--",
               "--run-config", str(run), "--model", str(paths["model"]), "--dataset", str(paths["data"]),
               "--pixels", str(paths["pixels"]), "--tokens", str(paths["tokens"]),
               "--adapter-out", str(work / "adapter"), "--log-out", str(log)]  # fmt: skip
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        (work / "finetune.log").write_text(out.stdout + out.stderr)
        if out.returncode:
            sys.exit(f"gpu_check: fine-tuning failed:\n{(out.stdout + out.stderr)[-4000:]}")
        result = json.loads(log.read_text())
    from morphalign.model.sizes import flops_per_pair
    from morphalign.runs import TARGETS

    warm = result["epochs"][-1]
    step_s = warm["train_seconds"] / warm["steps"]
    flops = sum(flops_per_pair(TARGETS[args.target].towers).values()) * args.batch
    peak = args.peak_tflops or (peak_tflops(device) if cuda else None)
    print(f"device: {device}; target {args.target}; batch {args.batch}; precision {result['mixed_precision']}")
    print(f"torch {torch.__version__}")
    print(f"fine-tuning job wall time (model load included): {wall:.1f} s for {len(result['epochs'])} epochs")
    print(f"time per step: {step_s:.3f} s ({warm['steps']} steps in epoch {warm['epoch']})")
    print(f"peak GPU memory: {result['peak_gpu_memory_mb']} MB")
    if args.tiny:  # the estimate is of the base sizes; the tiny model's would be another formula's
        print("matrix FLOPs per step: not estimated for --tiny (the estimate is of the base model's sizes)")
        return
    print(f"matrix FLOPs per step: {flops / 1e12:.2f} TFLOP")
    if peak:
        bound = flops / (peak * 1e12)
        print(f"compute bound at {peak:g} TFLOP/s: {bound * 1e3:.1f} ms; step / bound = {step_s / bound:.1f}")
    else:
        print("compute bound: unknown GPU peak; pass --peak-tflops")


if __name__ == "__main__":
    main()
