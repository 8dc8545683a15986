"""Statistics of every caption set: words per caption, vocabulary size, and the share truncated by the model; and
the table of the caption audits (leaks, caption-only F1, duplicates).

Vocabulary is the number of distinct lower-case alphabetic words (`[A-Za-z]+`): on the reference study's published
captions it gives 1,160 for the control prompt and 668 for the curated one (the paper's "about 1.5x").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.io import atomic_path, read_json, write_csv

_WORD = re.compile(r"[A-Za-z]+")


def words(caption: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(caption)]


def vocabulary(captions: list[str]) -> int:
    return len({w for c in captions for w in words(c)})


def stats_row(prompt: str, captions: list[str], token_stats: Mapping | None = None) -> dict:
    counts = np.array([len(words(c)) for c in captions])
    row = {
        "prompt": prompt,
        "captions": len(captions),
        "words_mean": float(counts.mean()),
        "words_median": float(np.median(counts)),
        "words_max": int(counts.max()),
        "vocabulary": vocabulary(captions),
    }
    if token_stats is not None:
        row.update(
            {
                "max_length": token_stats["max_length"],
                "tokens_mean": token_stats["mean_tokens"],
                "truncated": token_stats["truncated"],
                "truncated_share": token_stats["truncated_share"],
            }
        )
    return row


def caption_stats(
    tables: Mapping[str, str | Path], token_stats: Mapping[str, str | Path], out_csv: str | Path, out_png: str | Path
) -> pd.DataFrame:
    """Write the statistics table and a figure of words per caption per prompt."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows, long = [], []
    for prompt, path in tables.items():
        captions = pd.read_csv(path, dtype={"caption": str}, keep_default_na=False)["caption"].tolist()
        rows.append(stats_row(prompt, captions, read_json(token_stats[prompt]) if prompt in token_stats else None))
        long += [{"prompt": prompt, "words": len(words(c))} for c in captions]
    table = pd.DataFrame(rows)
    write_csv(out_csv, table)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.histplot(pd.DataFrame(long), x="words", hue="prompt", element="step", stat="count", discrete=True, ax=ax)
    vocab = ", ".join(f"{r['prompt']}: {r['vocabulary']}" for r in rows)
    ax.set(title=f"Words per caption (vocabulary: {vocab})", xlabel="words", ylabel="captions")
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return table


def audit_table(reports: list[str | Path], out_csv: str | Path) -> pd.DataFrame:
    """One row per caption set from the caption audits (`captions.audit`): leaks, caption-only F1, duplicates."""
    rows = []
    for path in reports:
        r = read_json(path)
        c, d = r["classifier"], r["duplicates"]
        rows.append(
            {
                "prompt": r["prompt"],
                "captions": r["captions"],
                "captions_with_any_leak": r["captions_with_any_leak"],
                **{f"leak:{t['term']}": t["captions"] for t in r["leaks"]},
                "bag_of_words_f1": c["bag_of_words_f1"],
                "bag_of_words_f1_masked": c["bag_of_words_f1_masked"],
                "majority_f1": c["majority_f1"],
                "distinct_share": d["distinct_share"],
                "largest_duplicate_group": max([g["count"] for g in d["largest_groups"]], default=1),
                **r["status"],
                **_judge_columns(r.get("judge")),
            }
        )
    table = pd.DataFrame(rows)
    write_csv(out_csv, table)
    return table


def _judge_columns(judge: dict | None) -> dict:
    """The LLM judge's headline figures, when it ran."""
    if not judge:
        return {}
    verdicts = judge["verdicts"]
    parsed = sum(verdicts.values())
    return {
        "judged": judge["judged"],
        "judge_errors": judge["errors"],
        "judge_faithful_share": verdicts["faithful"] / parsed if parsed else None,
        "judge_unfaithful_share": verdicts["unfaithful"] / parsed if parsed else None,
        "judge_cost_estimate_usd": judge["estimated_cost_usd"],
    }
