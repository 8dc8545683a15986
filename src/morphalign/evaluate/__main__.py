"""`python -m morphalign.evaluate --embeddings E.npz --out M.json`: the metrics of one set of embeddings.

`--predictions P.csv` also writes the per-image predictions behind them (format in `morphalign.scores`), which the
report resamples for intervals and paired tests.

With the run's settings (`--run-json`, or `--run-config` for a file; and `--train-log` for a trained run) the
metrics file also records how it was made: the run, its settings, package and library versions, device, epochs
trained, best validation loss and training time.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from morphalign.artifacts import load_embeddings
from morphalign.evaluate.metrics import EvalSettings, evaluate, predictions
from morphalign.io import read_json, write_csv, write_json
from morphalign.provenance import library_versions
from morphalign.scripting import add_run_settings, run_cli, run_settings


def provenance(run: dict[str, Any] | None, train_log: dict[str, Any] | None) -> dict[str, Any]:
    """What a metrics file records about how it was made."""
    versions = library_versions()
    log = train_log or {}
    return {
        "prompt": (run or {}).get("prompt"),
        "target": (run or {}).get("target"),
        "seed": (run or {}).get("seed"),
        "package_version": versions["morphalign"],
        "versions": versions,
        "device": log.get("device", "cpu"),
        "epochs_trained": log.get("epochs_trained", 0),
        "best_val_loss": log.get("best_val_loss"),
        "train_wall_time_s": log.get("wall_time_s", 0.0),
        "trainable_fraction": log.get("trainable_fraction", 0.0),
        "config": run,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--embeddings", required=True, help="E.npz with the six arrays")
    ap.add_argument("--out", required=True, help="metrics JSON to write")
    add_run_settings(ap, required=False)  # the run's settings, recorded as provenance
    ap.add_argument("--train-log", default=None, help="training log to record epochs, best loss and time from")
    ap.add_argument("--predictions", default=None, help="per-image predictions CSV to write beside the metrics")
    ap.add_argument("--knn-k", type=int, default=5)
    ap.add_argument("--f1-average", choices=["macro", "binary"], default="macro")
    ap.add_argument("--positive-class", type=int, default=1, help="the class binary F1 scores")
    ap.add_argument("--probe", choices=["logistic", "torch_adam"], default="logistic")
    ap.add_argument("--probe-epochs", type=int, default=200)
    ap.add_argument("--probe-lr", type=float, default=1e-3)
    ap.add_argument("--mutual-knn-k", type=int, default=10, help="neighbours of the mutual k-NN geometry measure")
    args = ap.parse_args(argv)

    def body() -> None:
        settings = EvalSettings(
            args.knn_k,
            args.f1_average,
            args.positive_class,
            args.probe,
            args.probe_epochs,
            args.probe_lr,
            args.mutual_knn_k,
        )
        arrays = load_embeddings(args.embeddings)
        table = predictions(arrays, settings)
        metrics: dict[str, Any] = evaluate(arrays, settings, table)
        run, _ = run_settings(args)
        log = read_json(args.train_log) if args.train_log else None
        if run is not None or log is not None:
            metrics.update(provenance(run, log))
            if metrics["config"] is not None:
                metrics["config"] = {**metrics["config"], "evaluate": asdict(settings)}
        if args.predictions:
            write_csv(args.predictions, table)
        write_json(args.out, metrics)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
