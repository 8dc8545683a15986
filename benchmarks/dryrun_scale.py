"""Benchmark: how long `snakemake -n` takes to plan big sweeps (2 prompts x 4 targets x N seeds).

    python benchmarks/dryrun_scale.py [--seeds 100 1000] [--profile profiles/slurm]

Each sweep has 2 x (3 x N + 1) runs; every run is a handful of jobs. For each N it prints the job count and the wall
time of two dry runs, each in a fresh working folder (so nothing is cached):

- `snakemake -n --quiet rules`: the dry run a user reads for the job counts. Snakemake builds every job, decides
  what needs to run, then describes every job as a dry run lists it (its shell command, resources and files,
  formatted although `--quiet rules` prints none of them). This is the figure the 30 s aim at 1,000 seeds is about.
- `snakemake -n --quiet`: the plan alone, no job described (Snakemake then prints no job counts either): how long a
  real `snakemake` takes before it starts the first job.
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


# the two dry runs of the module docstring
LISTED, PLAN = ["--quiet", "rules"], ["--quiet"]


def dry_run(seeds: int, profile: str | None, quiet: list[str]) -> tuple[str, float]:
    """The dry run's output and its wall time, in a fresh working folder."""
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
            *quiet,
            "--configfile",
            str(cfg),
        ]
        cmd += ["--profile", str(REPO / profile)] if profile else ["--workflow-profile", "none"]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--profile", default=None, help="e.g. profiles/slurm (a dry run needs no cluster)")
    args = ap.parse_args()
    for n in args.seeds:
        out, listed = dry_run(n, args.profile, LISTED)
        jobs = int(re.search(r"^total\s+(\d+)$", out, re.M).group(1))
        _, plan = dry_run(n, args.profile, PLAN)
        print(
            f"2 prompts x 4 targets x {n} seeds: {2 * (3 * n + 1)} runs, {jobs} jobs."
            f" snakemake -n {' '.join(LISTED)}: {listed:.1f} s; the plan alone (-n {' '.join(PLAN)}): {plan:.1f} s"
        )


if __name__ == "__main__":
    main()
