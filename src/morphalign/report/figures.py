"""The sweep's figures (seaborn): alignment distributions, the paper's Figure 1, t-SNE grid, training curves.

Most take a mapping `(prompt, target) -> file` for one representative seed (`report.figure_seed`; the frozen
baseline has only one) and write one PNG atomically; `figure1` takes every seed.
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
    """Per image, the cosine between the `main` and `ref` runs' caption embeddings, and between their image
    embeddings, at the same stage (target). The paper's Figure 1 compares across stages instead: see `figure1`."""
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


def tsne_grid(
    embeddings: Mapping[Key, str | Path],
    out: str | Path,
    perplexity: float = 30.0,
    seed: int = 0,
    run_seed: int | None = None,
    link_pairs: bool = False,
) -> None:
    """t-SNE of the test embeddings: per target (rows) and prompt, one panel for images and one for captions.

    Each (prompt, target) is fitted once on its images and captions together (one coordinate system, each panel
    zoomed on its own points: the modality gap would otherwise leave half of every panel empty); the classes keep
    one colour throughout. With `link_pairs`, a third panel per prompt shows both modalities with a line from each
    image to its caption. `run_seed` names the training seed
    of the runs shown (the frozen baseline has none), `seed` the t-SNE's own.
    """
    from sklearn.manifold import TSNE

    targets = _order(embeddings)
    prompts = sorted({p for p, _ in embeddings})
    panels = ["image", "text", *(["pairs"] if link_pairs else [])]
    columns = [(p, kind) for p in prompts for kind in panels]
    fig, axes = plt.subplots(
        len(targets), len(columns), figsize=(2.9 * len(columns), 2.8 * len(targets)), squeeze=False
    )
    palette = sns.color_palette()
    for i, target in enumerate(targets):
        for j, prompt in enumerate(prompts):
            group = axes[i][j * len(panels) : (j + 1) * len(panels)]
            for ax in group:
                ax.set_xticks([])
                ax.set_yticks([])
            if (prompt, target) not in embeddings:
                for ax in group:
                    ax.set_visible(False)
                continue
            e = _load(embeddings[(prompt, target)])
            x = np.vstack([l2_normalize(e["test_image"]), l2_normalize(e["test_text"])])
            n = len(e["test_image"])
            xy = TSNE(perplexity=min(perplexity, (len(x) - 1) / 3), random_state=seed, init="pca").fit_transform(x)
            labels = e["test_label"].astype(int)
            image_xy, text_xy = xy[:n], xy[n:]
            for ax, kind in zip(group, panels, strict=True):
                if kind == "pairs":
                    for a, b in zip(image_xy, text_xy, strict=True):
                        ax.plot([a[0], b[0]], [a[1], b[1]], color="0.75", lw=0.4, zorder=0)
                for modality, pts, marker in (("image", image_xy, "o"), ("text", text_xy, "^")):
                    if kind not in (modality, "pairs"):
                        continue
                    for cls in np.unique(labels):
                        m = labels == cls
                        ax.scatter(
                            pts[m, 0], pts[m, 1], s=9, marker=marker, alpha=0.8, color=palette[cls % 10],
                            label=f"{modality}, {CLASS_NAMES.get(cls, cls)}",
                        )  # fmt: skip
                shown = {"image": image_xy, "text": text_xy, "pairs": xy}[kind]  # each panel zooms on its points
                pad = 0.05 * (shown.max(axis=0) - shown.min(axis=0))
                ax.set_xlim(shown[:, 0].min() - pad[0], shown[:, 0].max() + pad[0])
                ax.set_ylim(shown[:, 1].min() - pad[1], shown[:, 1].max() + pad[1])
                what = {"image": "images", "text": "captions", "pairs": "pairs"}[kind]
                ax.set_title(f"{prompt} / {target}: {what}", fontsize=8)
    handles: dict = {}
    for ax in axes.ravel():
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=4, fontsize=8, frameon=False)
    which = "the frozen baseline" + ("" if run_seed is None else f" and training seed {run_seed}")
    fig.suptitle(
        f"t-SNE of test embeddings (perplexity {perplexity:g}, t-SNE seed {seed}; runs: {which}); "
        "images and captions of a run share one fit"
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    _save(fig, out)


def figure1(
    frozen: Mapping[str, str | Path],
    trained: Mapping[Key, list[str | Path]],
    main: str,
    ref: str,
    out_png: str | Path,
    out_csv: str | Path,
    pairs: list[tuple[str, str]] | None = None,
    title: str = "Asymmetric anchoring: same image, frozen vs fine-tuned embeddings (all seeds pooled)",
    only_changed: bool = False,
) -> pd.DataFrame:
    """The paper's Figure 1, "asymmetric semantic anchoring": per image, the cosine between the *frozen* `ref`
    embedding and the *fine-tuned* `main` one, and the reverse (frozen `main` against fine-tuned `ref`), for the
    captions and for the images, per target, over every seed.

    `frozen` maps a prompt to its frozen run's embeddings; `trained` maps (prompt, target) to its runs' embeddings,
    in seed order. `pairs` lists other (fine-tuned prompt, frozen prompt) comparisons to draw instead of the two
    above (the shuffled controls' figure). `only_changed` draws only the targets every tuned prompt of `pairs` ran
    and leaves out a modality whose cosines are all 1 (a tower the target left frozen, identical by construction).
    Writes the figure and a table of the per-seed median and the mean over images.
    """
    pairs = pairs or [(main, ref), (ref, main)]
    targets = [t for t in TARGETS if any(k[1] == t for k in trained)]
    if only_changed:
        targets = [t for t in targets if all((tuned, t) in trained for tuned, _ in pairs)]
    rows = []
    for target in targets:
        for tuned, still in pairs:
            if (tuned, target) not in trained or still not in frozen:
                continue
            base = _load(frozen[still])
            for s, path in enumerate(trained[(tuned, target)]):
                run = _load(path)
                for kind in ("text", "image"):
                    cos = np.sum(l2_normalize(base[f"test_{kind}"]) * l2_normalize(run[f"test_{kind}"]), axis=1)
                    label = f"{kind}: frozen {still} vs tuned {tuned}"
                    rows += [{"target": target, "comparison": label, "seed_index": s, "cosine": float(c)} for c in cos]
    df = pd.DataFrame(rows, columns=["target", "comparison", "seed_index", "cosine"])
    if only_changed and len(df):
        same = df.groupby(["target", "comparison"])["cosine"].transform(lambda c: bool(np.all(c > 1 - 1e-6)))
        df = df[~same.astype(bool)]
    summary = (
        df.groupby(["target", "comparison", "seed_index"], sort=False)["cosine"]
        .agg(median="median", mean="mean", images="count")
        .reset_index()
    )
    with atomic_path(out_csv) as tmp:
        summary.to_csv(tmp, index=False)
    fig, ax = plt.subplots(figsize=(8 + 1.5 * max(0, len(pairs) - 2), 4.2))
    if len(df):
        sns.boxplot(data=df, x="target", y="cosine", hue="comparison", ax=ax, fliersize=1.5)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        wanted = sorted({p for pair in pairs for p in pair})
        ax.text(0.5, 0.5, f"needs frozen and trained runs of {wanted}", ha="center", transform=ax.transAxes)
    ax.set(title=title, xlabel="LoRA target of the fine-tuned run", ylabel="cosine")
    _save(fig, out_png)
    return summary


def control_pairs(main: str, ref: str, controls: list[str]) -> list[tuple[str, str]]:
    """The shuffled controls' Figure 1: each fine-tuned caption set (`main`, then its controls) against the frozen
    `ref` embeddings (the paper's comparison) and against the frozen `main` ones (how far training moved them)."""
    tuned = [main, *controls]
    return [(t, ref) for t in tuned] + [(t, main) for t in tuned]


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
