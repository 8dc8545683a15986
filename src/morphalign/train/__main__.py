"""`python -m morphalign.train`: fine-tune one run (what `morphalign.train.launch` starts under accelerate)."""

from __future__ import annotations

import argparse
import os
import sys

from morphalign.io import write_json
from morphalign.runs import RunConfig
from morphalign.scripting import add_run_settings, run_cli, run_settings
from morphalign.train.loop import TrainPaths, train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.train", description="LoRA fine-tuning of one run.")
    add_run_settings(ap)
    ap.add_argument("--model", required=True, help="the base model: a folder written by save_pretrained, or a Hub id")
    ap.add_argument("--model-cache-dir", default=None, help="Hub download cache for a Hub id")
    ap.add_argument("--dataset", required=True, help="dataset folder (images.npy + manifest.csv)")
    ap.add_argument("--pixels", required=True, help="resized-image cache (.npy)")
    ap.add_argument("--tokens", required=True, help="token cache for the run's prompt (.npz)")
    ap.add_argument("--adapter-out", required=True, help="folder for the LoRA adapter")
    ap.add_argument("--log-out", required=True, help="per-epoch loss log (JSON)")
    ap.add_argument("--frozen", default=None, help="cached features of the tower the run leaves frozen (.npy)")
    ap.add_argument("--checkpoint-dir", default=None, help="per-epoch checkpoint for resuming after a kill")
    ap.add_argument("--run-out", default=None, help="write the run's settings here too (JSON), beside its adapter")
    args = ap.parse_args(argv)

    def body() -> None:
        data, where = run_settings(args)
        cfg = RunConfig.from_dict(data, where)
        paths = TrainPaths.of(
            dataset=args.dataset,
            pixels=args.pixels,
            tokens=args.tokens,
            adapter=args.adapter_out,
            log=args.log_out,
            checkpoint=args.checkpoint_dir,
            frozen=args.frozen,
        )
        train(cfg, paths, args.model, args.model_cache_dir)
        if args.run_out and os.environ.get("RANK", "0") == "0":  # one process of a multi-GPU run writes it
            write_json(args.run_out, data)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
