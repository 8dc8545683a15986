"""The GPU guard: a job that SLURM gave GPUs must see them, or stop before it trains on the CPU.

A fine-tuning job on a node whose PyTorch cannot see the GPU (a CPU build, a missing driver, a wrong
`CUDA_VISIBLE_DEVICES`) would otherwise fall back to full-precision CPU training: hours of CPU time on a GPU
allocation, with metrics that look normal. The rule passes the GPUs it requested (`--gpus-requested`, from its
`gpu` resource); the guard applies inside a SLURM job (`SLURM_JOB_ID` set), where the request is an allocation.
Local runs ignore the `gpu` resource, so a local CPU run is never stopped.
"""

from __future__ import annotations

import os
import socket

from morphalign.errors import MorphalignError


def check_gpus(requested: int, guard: bool = True) -> str:
    """Raise unless a job that was allocated `requested` GPUs sees at least one; return what was checked."""
    import torch

    node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    seen = torch.cuda.device_count() if torch.cuda.is_available() else 0
    build = f"torch {torch.__version__} (CUDA {torch.version.cuda or 'none: a CPU build'})"
    facts = f"node {node}, CUDA_VISIBLE_DEVICES={visible}, {build}, {seen} GPU(s) visible"
    job = os.environ.get("SLURM_JOB_ID")
    if requested <= 0 or job is None or seen > 0:
        return facts
    if not guard:
        return facts + f"; SLURM job {job} asked for {requested} GPU(s), guard off (gpu_guard: false)"
    raise MorphalignError(
        f"SLURM job {job} was given {requested} GPU(s) but torch sees none ({facts}), so it would train on the CPU. "
        "Fix: run the job in an environment with a CUDA build of PyTorch: with --sdm conda, create "
        "envs/train.yaml's environment with CONDA_OVERRIDE_CUDA set to your driver's CUDA version "
        "(see the README's cluster section); otherwise install the CUDA wheel. Check `nvidia-smi` on the node. "
        "To train on the CPU on purpose, set compute.finetune.gpu: 0 (and compute.embed.gpu: 0)."
    )
