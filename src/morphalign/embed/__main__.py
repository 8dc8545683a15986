"""`python -m morphalign.embed`: embed one run's images and captions."""

from __future__ import annotations

import argparse
import sys

from morphalign.embed.embed import FrozenFeatures, embed
from morphalign.model.device import check_gpus
from morphalign.runs import RunConfig
from morphalign.scripting import add_run_settings, run_cli, run_settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.embed", description="Embed a run's images and captions.")
    add_run_settings(ap)
    ap.add_argument("--model", required=True, help="the base model: a folder written by save_pretrained, or a Hub id")
    ap.add_argument("--model-cache-dir", default=None, help="Hub download cache for a Hub id")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--pixels", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--adapter", default=None, help="LoRA adapter folder; omit for the frozen baseline")
    ap.add_argument("--out", required=True, help="output .npz")
    ap.add_argument("--class-prompts", default=None, help="class prompts JSON: also embed them for zero-shot")
    ap.add_argument("--frozen-image", default=None, help="cached base-model image features (embed.frozen)")
    ap.add_argument("--frozen-text", default=None, help="cached base-model text features of the run's prompt")
    ap.add_argument("--frozen-class-text", default=None, help="cached base-model class-prompt embeddings")
    ap.add_argument("--gpus-requested", type=int, default=0, help="GPUs the job asked SLURM for (the rule's gpu)")
    ap.add_argument("--no-gpu-guard", action="store_true", help="run on the CPU even when SLURM gave GPUs")
    args = ap.parse_args(argv)

    def body() -> None:
        print(f"devices: {check_gpus(args.gpus_requested, not args.no_gpu_guard)}", file=sys.stderr)
        cfg = RunConfig.from_dict(*run_settings(args))
        info = embed(
            cfg,
            args.model,
            args.dataset,
            args.pixels,
            args.tokens,
            args.out,
            args.adapter,
            args.model_cache_dir,
            args.class_prompts,
            FrozenFeatures.of(image=args.frozen_image, text=args.frozen_text, class_text=args.frozen_class_text),
        )
        print(f"embedded: {info}", file=sys.stderr)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
