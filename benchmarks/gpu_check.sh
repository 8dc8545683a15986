#!/usr/bin/env bash
# GPU check: a paper-size LoRA fine-tune on CUDA in bf16, on SigLIP-2 base sizes with random weights and synthetic
# data, offline (no download). Prints the wall time with model load, the time per step, the peak GPU memory and the
# ratio to a compute bound; see benchmarks/gpu_check.py for what it runs and its options.
#   bash benchmarks/gpu_check.sh [--target full] [--epochs 2] [--batch 32] [--peak-tflops N]
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
exec python benchmarks/gpu_check.py "$@"
