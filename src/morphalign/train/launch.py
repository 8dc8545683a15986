"""Launch fine-tuning through `accelerate launch` with as many processes as the job has GPUs.

`python -m morphalign.train.launch --accelerate-dir config/accelerate --mixed-precision bf16 -- <morphalign.train args>`
(in the workflow, `--accelerate-dir` comes from $MORPHALIGN_ACCELERATE_DIR, so that no job's params hold a path of
the checkout).

- 0 or 1 visible GPU: `single.yaml`, one process; mixed precision only on a GPU (CPU runs full precision).
- n > 1 GPUs: `multi_gpu.yaml` with `--num_processes n`; `morphalign.train` divides the batch between processes.
- No GPU visible and none allocated (`CUDA_VISIBLE_DEVICES` unset or empty): `morphalign.train` runs in this
  process. `accelerate launch` would start two more interpreters to run the same single CPU process; on the 2-core
  default that is about 3 s of imports per run.

On a SLURM allocation the visible GPUs are the ones the job was given (`gpu: 1` in the rule, or more).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from morphalign.errors import MorphalignError
from morphalign.model.device import check_gpus

ACCELERATE_DIR_ENV = "MORPHALIGN_ACCELERATE_DIR"  # set by the workflow (common.smk) for its jobs


def visible_gpus() -> int:
    """GPUs this process can use (0 where CUDA is absent, as on a fake-GPU test cluster)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0


def in_process(gpus: int) -> bool:
    """Train here, without `accelerate launch`: no GPU is visible and the job was allocated none."""
    return gpus == 0 and not os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()


def command(accelerate_dir: str | Path, mixed_precision: str, train_args: list[str], gpus: int) -> list[str]:
    """The `accelerate launch` command line for `gpus` visible GPUs."""
    folder = Path(accelerate_dir)
    multi = gpus > 1
    cfg = folder / ("multi_gpu.yaml" if multi else "single.yaml")
    mp = mixed_precision if gpus >= 1 else "no"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(cfg),
        "--num_processes",
        str(max(gpus, 1)),
        "--num_machines",
        "1",
        "--mixed_precision",
        mp,
        "--dynamo_backend",
        "no",
    ]
    if multi:
        cmd.append("--multi_gpu")
    return [*cmd, "-m", "morphalign.train", *train_args]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print("usage: python -m morphalign.train.launch [options] -- <morphalign.train arguments>", file=sys.stderr)
        return 2
    split = argv.index("--")
    ap = argparse.ArgumentParser(prog="morphalign.train.launch", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--accelerate-dir",
        default=os.environ.get(ACCELERATE_DIR_ENV),
        help=f"folder with single.yaml and multi_gpu.yaml (default: ${ACCELERATE_DIR_ENV}, which the workflow sets)",
    )
    ap.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    ap.add_argument("--gpus-requested", type=int, default=0, help="GPUs the job asked SLURM for (the rule's gpu)")
    ap.add_argument("--no-gpu-guard", action="store_true", help="train on the CPU even when SLURM gave GPUs")
    args = ap.parse_args(argv[:split])
    if not args.accelerate_dir:
        ap.error(f"--accelerate-dir is needed where ${ACCELERATE_DIR_ENV} is not set")
    try:
        facts = check_gpus(args.gpus_requested, not args.no_gpu_guard)
    except MorphalignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"morphalign.train.launch: {facts}", file=sys.stderr, flush=True)
    gpus = visible_gpus()
    if in_process(gpus):
        print("morphalign.train.launch: no GPU visible or allocated; training in this process", file=sys.stderr)
        from morphalign.train.__main__ import main as train_main

        return train_main(argv[split + 1 :])
    cmd = command(args.accelerate_dir, args.mixed_precision, argv[split + 1 :], gpus)
    allocated = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    print(
        f"morphalign.train.launch: CUDA_VISIBLE_DEVICES={allocated}; {gpus} usable GPU(s); running: {shlex.join(cmd)}",
        file=sys.stderr,
        flush=True,
    )
    os.execv(cmd[0], cmd)
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
