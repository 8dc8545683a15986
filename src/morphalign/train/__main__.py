"""`python -m morphalign.train`: fine-tune one run (what `morphalign.train.launch` starts under accelerate)."""

from __future__ import annotations

import argparse
import sys

from morphalign.io import read_json
from morphalign.runs import RunConfig
from morphalign.scripting import run_cli
from morphalign.train.loop import TrainPaths, train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.train", description="LoRA fine-tuning of one run.")
    ap.add_argument("--run-config", required=True, help="per-run JSON written by the workflow")
    ap.add_argument("--model", required=True, help="the base model: a folder written by save_pretrained, or a Hub id")
    ap.add_argument("--model-cache-dir", default=None, help="Hub download cache for a Hub id")
    ap.add_argument("--dataset", required=True, help="dataset folder (images.npy + manifest.csv)")
    ap.add_argument("--pixels", required=True, help="resized-image cache (.npy)")
    ap.add_argument("--tokens", required=True, help="token cache for the run's prompt (.npz)")
    ap.add_argument("--adapter-out", required=True, help="folder for the LoRA adapter")
    ap.add_argument("--log-out", required=True, help="per-epoch loss log (JSON)")
    ap.add_argument("--frozen", default=None, help="cached features of the tower the run leaves frozen (.npy)")
    ap.add_argument("--checkpoint-dir", default=None, help="per-epoch checkpoint for resuming after a kill")
    args = ap.parse_args(argv)

    def body() -> None:
        cfg = RunConfig.from_dict(read_json(args.run_config), args.run_config)
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

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
