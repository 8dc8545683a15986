"""How LoRA moves the embedding geometry: `tables/geometry.{csv,md}` and `figures/geometry.png`.

From each run's metrics (`evaluate.geometry`: modality gap, alignment, uniformity per modality, mutual k-NN against
its chance level, linear CKA), per prompt and target: the mean and the standard deviation over seeds (the frozen
baseline is one deterministic run). The figure has one panel per measure, the targets along x from frozen, one line
per prompt through the seed means, and every seed as a dot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.io import atomic_path, write_csv
from morphalign.runs import TARGETS

MEASURES = {  # key: (label, how to read it)
    "modality_gap": ("Modality gap", "lower: the modalities share a centroid"),
    "alignment": ("Alignment", "lower: pairs closer"),
    "uniformity_image": ("Uniformity, image", "lower: spread over the sphere"),
    "uniformity_text": ("Uniformity, text", "lower: spread over the sphere"),
    "mutual_knn": ("Mutual k-NN", "higher: neighbourhoods agree"),
    "linear_cka": ("Linear CKA", "higher: the spaces agree"),
}


def geometry_tables(runs_csv: str | Path, out_csv: str | Path, out_md: str | Path, out_png: str | Path):
    runs = pd.read_csv(runs_csv)
    data = runs[runs.metric.isin([*MEASURES, "chance_mutual_knn"])]
    if data.empty:
        raise ValueError(f"{runs_csv}: no geometry measures; rerun `evaluate` with this version")
    summary = (
        data.groupby(["prompt", "target", "metric"], sort=False)["value"]
        .agg(mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, seeds="count")
        .reset_index()
    )
    write_csv(out_csv, summary)
    with atomic_path(out_md) as tmp:
        tmp.write_text(_markdown(summary))
    _figure(data, out_png)
    return summary


def _order(targets) -> list[str]:
    present = set(targets)
    return [t for t in TARGETS if t in present]


def _markdown(summary: pd.DataFrame) -> str:
    chance = summary[summary.metric == "chance_mutual_knn"]["mean"]
    lines = [
        "**Embedding geometry** of the test pairs: mean ± std over seeds (frozen: one run). "
        + (f"Mutual k-NN chance: {chance.iloc[0]:.3f}. " if len(chance) else "")
        + "Definitions in `morphalign.evaluate.geometry`.",
        "",
    ]
    for prompt, p in summary.groupby("prompt", sort=False):
        targets = _order(p.target)
        lines += [f"Prompt `{prompt}`:", "", "| Measure | " + " | ".join(t.title() for t in targets) + " |"]
        lines.append("|---" * (len(targets) + 1) + "|")
        for key, (label, read) in MEASURES.items():
            cells = []
            for t in targets:
                row = p[(p.target == t) & (p.metric == key)]
                cells.append("–" if row.empty else f"{row['mean'].iloc[0]:.3f} ± {row['std'].iloc[0]:.3f}")
            lines.append(f"| {label} ({read}) | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _figure(data: pd.DataFrame, out_png: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = _order(data.target)
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    colours = plt.get_cmap("tab10")
    for ax, (key, (label, read)) in zip(axes.ravel(), MEASURES.items(), strict=True):
        for i, (prompt, p) in enumerate(data[data.metric == key].groupby("prompt", sort=False)):
            xs = [targets.index(t) + (i - 0.5) * 0.12 for t in p.target]
            ax.scatter(xs, p["value"], s=14, color=colours(i), alpha=0.6)
            means = p.groupby("target")["value"].mean().reindex(targets)
            ax.plot(np.arange(len(targets)) + (i - 0.5) * 0.12, means.to_numpy(), "-o", color=colours(i), label=prompt)
        if key == "mutual_knn":
            chance = data[data.metric == "chance_mutual_knn"]["value"]
            if len(chance):
                ax.axhline(float(chance.iloc[0]), color="grey", ls="--", lw=1, label="chance")
        ax.set_xticks(range(len(targets)), [t.title() for t in targets])
        ax.set_title(f"{label}\n({read})", fontsize=10)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Embedding geometry of the test pairs, from frozen to each LoRA target (dots: seeds)")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
