"""The benchmarks' own logic: the tower passes a plan makes, the GPU check's path (on the CPU) and its compute bound."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_check
import sweep_cost


def test_passes_read_from_planned_commands():
    plan = [
        "python -m morphalign.embed.frozen image --model m --out i.npy > log 2>&1",
        "python -m morphalign.embed.frozen class-text --model m --out c.npz > log 2>&1",
        'python -m morphalign.train.launch -- --run-json \'{"a":"x > y"}\' --adapter-out r/runs/p/text/seed0/adapter'
        " --frozen i.npy > log",
        "python -m morphalign.train.launch -- --run-json '{}' --adapter-out r/runs/p/vision/seed0/adapter > log",
        "python -m morphalign.train.launch -- --run-json '{}' --adapter-out r/runs/p/full/seed0/adapter > log",
        "python -m morphalign.embed --run-json '{}' --frozen-image i --frozen-text t --out r/runs/p/frozen/e.npz > l",
        "python -m morphalign.embed --run-json '{}' --frozen-image i --out r/runs/p/text/seed0/e.npz > l",
        "python -m morphalign.evaluate --embeddings r/runs/p/text/seed0/embeddings.npz > l",
    ]
    assert sweep_cost.passes(plan) == {"cache": 1, "training": 1, "embedding": 1}


@pytest.mark.slow
def test_the_cache_halves_the_tower_passes_of_a_sweep():
    """One prompt x all targets x 1 seed, read from the real plan: 10 passes without the cache, 6 with it."""
    targets = ["frozen", "vision", "text", "full"]
    before = sweep_cost.plan(1, targets, 1, frozen_towers=False)
    after = sweep_cost.plan(1, targets, 1, frozen_towers=True)
    # vision and text runs each run their frozen tower before training; every run embeds both towers
    assert before == {"cache": 0, "training": 2, "embedding": 8, "total": 10}
    # one image pass and one text pass for the prompt; then vision 1, text 1, full 2, frozen none
    assert after == {"cache": 2, "training": 0, "embedding": 4, "total": 6}


def test_compute_bound_lookup():
    assert gpu_check.peak_tflops("NVIDIA H100 PCIe") == 756
    assert gpu_check.peak_tflops("NVIDIA H200") == 989
    assert gpu_check.peak_tflops("NVIDIA A100-SXM4-80GB") == 312
    assert gpu_check.peak_tflops("a mystery accelerator") is None


def test_flops_of_a_step_follow_the_trained_towers():
    from morphalign.model.sizes import flops_per_pair

    full, vision, text = flops_per_pair(("vision", "text")), flops_per_pair(("vision",)), flops_per_pair(("text",))
    assert full["vision"] == vision["vision"] and full["text"] == text["text"]
    assert vision["text"] == text["vision"] == 0
    # ViT-B/16 at 224 px: 196 patches; forward about 2 x 85M weights x 196 tokens = 33 GFLOP, training twice that
    assert 60e9 < full["vision"] < 75e9
    assert full["vision"] / full["text"] == pytest.approx(196 / 64, rel=0.15)


def test_gpu_check_refuses_a_machine_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True)
    assert out.returncode != 0 and "no CUDA GPU" in out.stderr


@pytest.mark.slow
def test_gpu_check_path_runs_on_the_cpu(tmp_path):
    """The check's whole path (model folder, data, captions, caches, accelerate launch, report) with the tiny model."""
    cmd = ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--allow-cpu", "--tiny", "--epochs", "2", "--batch", "32"]
    out = subprocess.run([*cmd, "--work", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "time per step:" in out.stdout and "(19 steps in epoch 2)" in out.stdout  # 629 pairs in batches of 32
    assert "peak GPU memory: None MB" in out.stdout
    assert "not estimated for --tiny" in out.stdout and "TFLOP" not in out.stdout  # not the base model's FLOPs
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
