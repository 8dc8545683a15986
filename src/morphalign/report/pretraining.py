"""The pretraining report of the embedded tiny model: a copy of its JSON in results/, and a figure.

The figure shows the training loss per epoch and the held-out image-text Recall@1 and Recall@5 against chance, so
a reader can see that the `frozen` baseline is a model that learnt something, and how much.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: clusters and CI have no display

import matplotlib.pyplot as plt

from morphalign.artifacts import PRETRAIN_REPORT_FILE
from morphalign.errors import MorphalignError
from morphalign.io import atomic_path, read_json, write_json


def pretraining_report(model_dir: str | Path, out_json: str | Path, out_png: str | Path) -> dict[str, Any]:
    report = read_json(Path(model_dir) / PRETRAIN_REPORT_FILE)
    write_json(out_json, report)
    epochs = report.get("epochs", [])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    if epochs:
        x = [e["epoch"] for e in epochs]
        ax1.plot(x, [e["train_loss"] for e in epochs], marker="o")
        for k, colour in ((1, "C0"), (5, "C1")):
            ax2.plot(x, [e[f"recall_at_{k}"] for e in epochs], marker="o", color=colour, label=f"Recall@{k}")
            ax2.axhline(epochs[-1][f"chance_recall_at_{k}"], ls="--", color=colour, lw=1, label=f"chance @{k}")
        ax2.legend(fontsize=8)
    elif report.get("settings", {}).get("epochs", 0) != 0:
        raise MorphalignError(f"{model_dir}: the pretraining report has no epochs")
    ax1.set(title="Pretraining loss", xlabel="epoch", ylabel="sigmoid loss per row")
    ax2.set(title="Held-out image-text retrieval", xlabel="epoch", ylabel="recall")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return report
