"""Benchmark: how long `snakemake -n` takes to plan big sweeps (2 prompts x 4 targets x N seeds).

    python benchmarks/dryrun_scale.py [--seeds 100 1000] [--profile profiles/slurm]

Each sweep has 2 x (3 x N + 1) runs; every run is a handful of jobs. Prints the job count and the wall time of the
dry run for each N (a fresh working folder each time, so nothing is cached).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def dry_run(seeds: int, profile: str | None) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "sweep.yaml"
        cfg.write_text(yaml.safe_dump({"seeds": seeds, "targets": ["frozen", "vision", "text", "full"]}))
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            tmp,
            "-n",
            "--quiet",
            "rules",
            "--configfile",
            str(cfg),
        ]
        cmd += ["--profile", str(REPO / profile)] if profile else ["--workflow-profile", "none"]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        seconds = time.perf_counter() - t0
    total = int(re.search(r"^total\s+(\d+)$", out, re.M).group(1))
    return total, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--profile", default=None, help="e.g. profiles/slurm (a dry run needs no cluster)")
    args = ap.parse_args()
    for n in args.seeds:
        jobs, seconds = dry_run(n, args.profile)
        runs = 2 * (3 * n + 1)
        print(f"2 prompts x 4 targets x {n} seeds: {runs} runs, {jobs} jobs, snakemake -n took {seconds:.1f} s")


if __name__ == "__main__":
    main()
