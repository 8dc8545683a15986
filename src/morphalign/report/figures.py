"""The sweep's figures (seaborn): alignment distributions, the paper's Figure 1, t-SNE grid, training curves.

Each function takes a mapping `(prompt, target) -> file` for one representative seed (the first of the sweep; the
frozen baseline has only one) and writes one PNG atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: clusters and CI have no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from morphalign.io import atomic_path, read_json
from morphalign.runs import TARGETS
from morphalign.vectors import l2_normalize

Key = tuple[str, str]  # (prompt, target)
CLASS_NAMES = {0: "FR-I", 1: "FR-II"}


def _save(fig, out: str | Path) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def _load(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _order(keys) -> list[str]:
    present = {t for _, t in keys}
    return [t for t in TARGETS if t in present]


def pair_cosines(e: Mapping[str, np.ndarray], split: str = "test") -> np.ndarray:
    return np.sum(l2_normalize(e[f"{split}_image"]) * l2_normalize(e[f"{split}_text"]), axis=1)


def cosine_distributions(embeddings: Mapping[Key, str | Path], out: str | Path) -> None:
    """Image-text cosine of the test pairs, per target and prompt."""
    rows = []
    for (prompt, target), path in embeddings.items():
        for c in pair_cosines(_load(path)):
            rows.append({"prompt": prompt, "target": target, "cosine": float(c)})
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.violinplot(data=df, x="target", y="cosine", hue="prompt", order=_order(embeddings), cut=0, ax=ax)
    ax.set(title="Image-text cosine of test pairs", xlabel="LoRA target", ylabel="cos(image, caption)")
    _save(fig, out)


def caption_alignment(embeddings: Mapping[Key, str | Path], main: str, ref: str, out: str | Path) -> None:
    """The paper's Figure 1: per image, cosine between the `main` and `ref` runs' caption embeddings, and between
    their image embeddings, at each stage (target)."""
    rows = []
    for target in _order(embeddings):
        if (main, target) not in embeddings or (ref, target) not in embeddings:
            continue
        a, b = _load(embeddings[(main, target)]), _load(embeddings[(ref, target)])
        for kind in ("text", "image"):
            cos = np.sum(l2_normalize(a[f"test_{kind}"]) * l2_normalize(b[f"test_{kind}"]), axis=1)
            label = f"{kind}: {main} vs {ref}"
            rows += [{"target": target, "pair": label, "cosine": float(c)} for c in cos]
    fig, ax = plt.subplots(figsize=(7, 4))
    if rows:
        df = pd.DataFrame(rows)
        sns.boxplot(data=df, x="target", y="cosine", hue="pair", ax=ax, fliersize=2)
    else:
        ax.text(0.5, 0.5, f"needs prompts {main!r} and {ref!r}", ha="center", transform=ax.transAxes)
    ax.set(title=f"Same image, {main} vs {ref} runs", xlabel="LoRA target", ylabel="cosine")
    _save(fig, out)


def tsne_grid(embeddings: Mapping[Key, str | Path], out: str | Path, perplexity: float = 30.0, seed: int = 0) -> None:
    """t-SNE of test image and text embeddings together, one panel per target (rows) and prompt (columns)."""
    from sklearn.manifold import TSNE

    targets = _order(embeddings)
    prompts = sorted({p for p, _ in embeddings})
    fig, axes = plt.subplots(
        len(targets), len(prompts), figsize=(3.2 * len(prompts), 3.0 * len(targets)), squeeze=False
    )
    for i, target in enumerate(targets):
        for j, prompt in enumerate(prompts):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if (prompt, target) not in embeddings:
                ax.set_visible(False)
                continue
            e = _load(embeddings[(prompt, target)])
            x = np.vstack([l2_normalize(e["test_image"]), l2_normalize(e["test_text"])])
            n = len(e["test_image"])
            xy = TSNE(perplexity=min(perplexity, (len(x) - 1) / 3), random_state=seed, init="pca").fit_transform(x)
            labels = np.concatenate([e["test_label"], e["test_label"]])
            for modality, sl, marker in (("image", slice(0, n), "o"), ("text", slice(n, None), "^")):
                for cls in np.unique(labels):
                    m = labels[sl] == cls
                    ax.scatter(
                        xy[sl][m, 0],
                        xy[sl][m, 1],
                        s=9,
                        marker=marker,
                        alpha=0.75,
                        color=sns.color_palette()[int(cls) % 10],
                        label=f"{modality}, {CLASS_NAMES.get(int(cls), cls)}",
                    )
            ax.set_title(f"{prompt} / {target}", fontsize=9)
    handles, labels_ = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels_, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("t-SNE of test embeddings (o image, ^ text), coloured by class")
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    _save(fig, out)


def training_curves(logs: list[str | Path], out: str | Path) -> None:
    """Train and validation loss per epoch, one panel per target, one line per prompt and seed."""
    rows = []
    for path in logs:
        log = read_json(path)
        for ep in log["epochs"]:
            for split in ("train", "val"):
                rows.append(
                    {
                        "target": log["target"],
                        "prompt": log["prompt"],
                        "seed": log["seed"],
                        "epoch": ep["epoch"],
                        "split": split,
                        "loss": ep[f"{split}_loss"],
                    }
                )
    df = pd.DataFrame(rows)
    if df.empty:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.text(0.5, 0.5, "no trained runs", ha="center", transform=ax.transAxes)
        _save(fig, out)
        return
    order = [t for t in TARGETS if t in set(df.target)]
    g = sns.relplot(
        data=df,
        x="epoch",
        y="loss",
        hue="prompt",
        style="split",
        col="target",
        col_order=order,
        units="seed",
        estimator=None,
        kind="line",
        height=3,
        aspect=1.1,
        alpha=0.8,
    )
    g.set_titles("{col_name}")
    g.figure.suptitle("Sigmoid loss per epoch", y=1.03)
    _save(g.figure, out)
