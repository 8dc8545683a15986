"""Caption a dataset from the command line: `python -m morphalign.captions --dataset D --config C --out T.csv`.

The JSON config holds `prompt` (`name`, `text`, `backend` and backend options), and optionally `captioning` (the
Gemini settings), `cache_dir`, `report_dir`, `download_dir`, `data_mirror` and `overrides`. The workflow's
captions rule does the same through `run_captions`.
"""

from __future__ import annotations

import argparse
import sys

from morphalign.captions.backends import Context, Prompt
from morphalign.captions.stage import run_captions
from morphalign.download import mirror_dirs
from morphalign.io import read_json
from morphalign.scripting import run_cli


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.captions", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True, help="dataset folder (images.npy + manifest.csv)")
    ap.add_argument("--config", required=True, help="JSON with the prompt and the captioning settings")
    ap.add_argument("--out", required=True, help="captions table to write (CSV)")
    args = ap.parse_args(argv)

    def body() -> None:
        cfg = read_json(args.config)
        p = dict(cfg["prompt"])
        prompt = Prompt(name=p.pop("name"), text=p.pop("text"), backend=p.pop("backend"), options=p)
        defaults = Context()
        context = Context(
            download_dir=cfg.get("download_dir", defaults.download_dir),
            mirrors=tuple(mirror_dirs(cfg.get("data_mirror"))),
            captioning=cfg.get("captioning", {}),
            cache_dir=cfg.get("cache_dir", defaults.cache_dir),
            report_dir=cfg.get("report_dir", defaults.report_dir),
        )
        run_captions(args.dataset, prompt, args.out, context, overrides=cfg.get("overrides"))

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
