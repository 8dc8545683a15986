"""Benchmark: the tower passes a sweep makes with and without the frozen-tower cache, and the default's wall time.

    python benchmarks/sweep_cost.py [--prompts 2] [--targets frozen vision text full] [--seeds 3]
    python benchmarks/sweep_cost.py --time [--cores 2] [--resources resources]   # also run the default both ways

Counting reads the plan itself: the shell commands of `snakemake -n -p` for a config of P prompts x T targets x S
seeds, once with `compute.frozen_towers: false` (every run runs its towers) and once with true. A tower pass is one
tower over every row of the dataset outside the training steps:

- `embed.frozen image|text` jobs: one pass each (class-text prompts are a handful of rows, not counted);
- a fine-tuning job of a one-tower target without `--frozen`: one pass of its frozen tower, before training;
- an embedding job: one pass per tower it runs, i.e. each tower it is not handed `--frozen-image/--frozen-text` for.

`--time` runs the embedded default to the end both ways in two folders that share one pretrained model (built
first and untimed, or reused from `--resources`), prints each wall time, and checks that every run's metrics are
identical (about 20 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
ONE_TOWER = {"vision": "text", "text": "vision"}  # the tower a one-tower target leaves frozen


def snakemake(folder: Path, overrides: dict, *args: str) -> subprocess.CompletedProcess:
    """Snakemake in `folder` on the default config with top-level sections replaced (`compute` merged)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    compute = {**config.get("compute", {}), **overrides.pop("compute", {})}
    config.update(overrides, compute=compute)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "sweep.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(folder)]
    cmd += ["--configfile", str(cfg), *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"sweep_cost: snakemake {' '.join(args)} failed in {folder}:\n{out.stderr[-3000:]}")
    return out


def passes(commands: list[str]) -> dict[str, int]:
    """Tower passes by where they happen, read from the planned shell commands."""
    out = {"cache": 0, "training": 0, "embedding": 0}
    for line in commands:
        argv = shlex.split(line)  # the run's settings are inline JSON: quoted, whatever they hold
        argv = argv[: argv.index(">")] if ">" in argv else argv
        if "morphalign.embed.frozen" in argv:
            out["cache"] += argv[argv.index("morphalign.embed.frozen") + 1] in ("image", "text")
        elif "morphalign.train.launch" in argv:
            target = argv[argv.index("--adapter-out") + 1].split("/")[-3]  # runs/{prompt}/{target}/seed{n}/adapter
            out["training"] += target in ONE_TOWER and "--frozen" not in argv
        elif "morphalign.embed" in argv:
            out["embedding"] += ("--frozen-image" not in argv) + ("--frozen-text" not in argv)
    return out


def plan(prompts: int, targets: list[str], seeds: int, frozen_towers: bool) -> dict[str, int]:
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    base, main = default["prompts"], default["report"]["main_prompt"]
    names = [main, *(n for n in base if n != main)]  # Table 1's prompt first: a one-prompt sweep needs it
    config = {
        # the default's prompts first (the report names them), then copies of them
        "prompts": {names[i] if i < len(names) else f"p{i}": base[names[i % len(names)]] for i in range(prompts)},
        "targets": targets,
        "seeds": seeds,
        "compute": {"frozen_towers": frozen_towers},
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = snakemake(Path(tmp), config, "-n", "-p", "--forceall").stdout
    commands = [m.group(1) for m in re.finditer(r"^Shell command: (.*)$", out, re.M)]
    counted = passes(commands)
    return {**counted, "total": sum(counted.values())}


def measured(path: Path) -> dict:
    """A metrics.json without its timings (`*_s`)."""
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.endswith("_s")}


def time_default(cores: int, resources: str | None = None) -> None:
    """The default sweep end to end, both ways, from one pretrained model; the metrics must match."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shared = {"resources": str(Path(resources).resolve() if resources else root / "resources")}
        print("building the pretrained model once (untimed) ...", flush=True)
        snakemake(root / "model", {**shared, "results": str(root / "model" / "results")}, "--cores", str(cores),
                  "pretrain")  # fmt: skip
        seconds = {}
        for way in (False, True):
            folder = root / f"frozen_towers_{str(way).lower()}"
            folder.mkdir()
            cfg = {**shared, "compute": {"frozen_towers": way}}
            t0 = time.perf_counter()
            snakemake(folder, cfg, "--cores", str(cores), "--quiet")
            seconds[way] = time.perf_counter() - t0
            print(f"frozen_towers: {str(way).lower():5s}  default sweep {seconds[way]:.0f} s", flush=True)
        old = sorted((root / "frozen_towers_false" / "results" / "runs").rglob("metrics.json"))
        differ = []
        for a in old:
            b = root / "frozen_towers_true" / a.relative_to(root / "frozen_towers_false")
            if measured(a) != measured(b):
                differ.append(str(a.relative_to(root)))
        tables = [
            t
            for t in ("table1.csv", "geometry.csv")
            if not filecmp.cmp(
                root / "frozen_towers_false/results/tables" / t, root / "frozen_towers_true/results/tables" / t, False
            )
        ]
        print(f"ratio with/without: {seconds[True] / seconds[False]:.2f}")
        print(f"metrics.json identical in {len(old) - len(differ)} of {len(old)} runs; tables differing: {tables}")
        if differ:
            sys.exit(f"metrics differ: {differ}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--targets", nargs="+", default=["frozen", "vision", "text", "full"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--time", action="store_true", help="also time the default sweep both ways (about 30 min)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--resources", default=None, help="a resources/ folder whose pretrained model to reuse (--time)")
    args = ap.parse_args()
    print(f"sweep: {args.prompts} prompts x {args.targets} x {args.seeds} seeds")
    print("| frozen_towers | cache passes | training passes | embedding passes | total |")
    print("|---|---|---|---|---|")
    for way in (False, True):
        p = plan(args.prompts, args.targets, args.seeds, way)
        print(f"| {str(way).lower()} | {p['cache']} | {p['training']} | {p['embedding']} | {p['total']} |", flush=True)
    if args.time:
        time_default(args.cores, args.resources)


if __name__ == "__main__":
    main()
