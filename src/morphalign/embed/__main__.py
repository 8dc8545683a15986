"""`python -m morphalign.embed`: embed one run's images and captions."""

from __future__ import annotations

import argparse
import sys

from morphalign.embed.embed import embed
from morphalign.io import read_json
from morphalign.runs import RunConfig
from morphalign.scripting import run_cli


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.embed", description="Embed a run's images and captions.")
    ap.add_argument("--run-config", required=True)
    ap.add_argument("--model", required=True, help="the base model: a folder written by save_pretrained, or a Hub id")
    ap.add_argument("--model-cache-dir", default=None, help="Hub download cache for a Hub id")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--pixels", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--adapter", default=None, help="LoRA adapter folder; omit for the frozen baseline")
    ap.add_argument("--out", required=True, help="output .npz")
    args = ap.parse_args(argv)

    def body() -> None:
        cfg = RunConfig.from_dict(read_json(args.run_config), args.run_config)
        embed(cfg, args.model, args.dataset, args.pixels, args.tokens, args.out, args.adapter, args.model_cache_dir)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
