"""`python -m morphalign.cluster init --account A --partition P --gpu-partition G [--gpu-model M] [--name slurm]`:
write a complete SLURM profile for `snakemake --profile <name>` (see `morphalign.cluster.profile`)."""

from __future__ import annotations

import argparse
import sys

from morphalign.cluster.profile import init
from morphalign.errors import MorphalignError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.cluster", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init", help="write the SLURM profile into Snakemake's config folder")
    p.add_argument("--account", required=True, help="your SLURM account (sacctmgr show assoc user=$USER)")
    p.add_argument("--partition", required=True, help="the partition for CPU jobs (sinfo -s)")
    p.add_argument("--gpu-partition", required=True, help="the partition with GPUs, for fine-tuning")
    p.add_argument("--gpu-model", default=None, help="ask for this GPU model (sbatch --gpus=MODEL:1)")
    p.add_argument("--name", default="slurm", help="profile name: snakemake --profile NAME (default slurm)")
    p.add_argument("--force", action="store_true", help="overwrite an existing profile of that name")
    p.add_argument("--no-check", action="store_true", help="do not ask sinfo/sacctmgr whether the values exist")
    p.add_argument(
        "--status-command",
        choices=["sacct", "squeue"],
        default=None,
        help="how the plugin polls jobs; squeue where the cluster has no accounting daemon (sacct then hangs)",
    )
    args = ap.parse_args(argv)
    try:
        path, notes = init(
            args.account,
            args.partition,
            args.gpu_partition,
            args.gpu_model,
            args.name,
            args.force,
            not args.no_check,
            status_command=args.status_command,
        )
    except MorphalignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}" + "".join(f"\n  note: {n}" for n in notes))
    print(f"next: snakemake --profile {args.name} -n   (a dry run), then without -n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
