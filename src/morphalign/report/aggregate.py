"""Collect every run's metrics into one long table and render the paper's Table 1 (Markdown and LaTeX).

- `runs.csv`: one row per (prompt, target, seed, metric) with the value.
- `table1.md` / `table1.tex`: rows are metrics, columns LoRA targets. Each cell is the main prompt's mean +- std over
  seeds, with (main - reference) in parentheses, e.g. `0.912 ± 0.011 (+0.034)`; the best mean in each row is bold.
  The frozen baseline is one deterministic run per prompt, so it has no spread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morphalign.errors import MorphalignError
from morphalign.io import atomic_path, read_json, write_csv
from morphalign.runs import TARGETS

ROWS = [  # (metric key, label) in the paper's order
    ("linear_probe_f1_image", "Linear probe F1, image"),
    ("linear_probe_f1_text", "Linear probe F1, text"),
    ("linear_probe_f1_concat", "Linear probe F1, image+text"),
    ("knn_f1_image", "k-NN F1, image"),
    ("knn_f1_text", "k-NN F1, text"),
    ("knn_f1_concat", "k-NN F1, image+text"),
    ("mean_cosine", "Mean image-text cosine"),
    ("recall_at_1", "Recall@1"),
    ("recall_at_5", "Top-5 recall"),
    ("class_recall_at_1", "Class Recall@1"),
]


def collect(metric_files: list[str | Path]) -> pd.DataFrame:
    """Long table of every numeric metric in every metrics JSON."""
    rows: list[dict[str, Any]] = []
    for f in metric_files:
        m = read_json(f)
        for key in ("prompt", "target"):
            if m.get(key) is None:
                raise MorphalignError(f"{f}: metrics file lacks {key!r}; was it written by the workflow?")
        seed = m.get("seed") if TARGETS[m["target"]].trained else None
        for key, value in m.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in ("seed",):
                rows.append(
                    {
                        "prompt": m["prompt"],
                        "target": m["target"],
                        "seed": seed,
                        "metric": key,
                        "value": float(value),
                        "source": str(f),
                    }
                )
    return pd.DataFrame(rows, columns=["prompt", "target", "seed", "metric", "value", "source"])


def summarise(long: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over seeds per prompt, target and metric."""
    g = long.groupby(["prompt", "target", "metric"])["value"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def _cells(summary: pd.DataFrame, main: str, ref: str | None) -> tuple[list[str], list[list[dict[str, Any]]]]:
    targets = [t for t in TARGETS if t in set(summary["target"])]
    table = []
    for key, _label in ROWS:
        row = []
        for t in targets:
            sel = summary[(summary.prompt == main) & (summary.target == t) & (summary.metric == key)]
            if sel.empty:
                row.append(None)
                continue
            cell = {
                "mean": float(sel["mean"].iloc[0]),
                "std": float(sel["std"].iloc[0]),
                "n": int(sel["count"].iloc[0]),
                "diff": None,
            }
            if ref is not None:
                rs = summary[(summary.prompt == ref) & (summary.target == t) & (summary.metric == key)]
                if not rs.empty:
                    cell["diff"] = cell["mean"] - float(rs["mean"].iloc[0])
            row.append(cell)
        table.append(row)
    return targets, table


def _fmt(cell: dict[str, Any] | None, bold: bool, latex: bool) -> str:
    if cell is None:
        return "–" if not latex else "--"
    pm = r" $\pm$ " if latex else " ± "
    text = f"{cell['mean']:.3f}" + (f"{pm}{cell['std']:.3f}" if cell["n"] > 1 else "")
    if bold:
        text = rf"\textbf{{{text}}}" if latex else f"**{text}**"
    if cell["diff"] is not None:
        text += f" ({cell['diff']:+.3f})"
    return text


def render(summary: pd.DataFrame, main: str, ref: str | None) -> tuple[str, str]:
    """Table 1 as (markdown, latex)."""
    if main not in set(summary["prompt"]):
        raise MorphalignError(
            f"report.main_prompt: no runs for prompt {main!r}; prompts run: {sorted(set(summary['prompt']))}"
        )
    ref = ref if ref in set(summary["prompt"]) and ref != main else None
    targets, table = _cells(summary, main, ref)
    heads = [TARGETS[t].label for t in targets]
    caption = (
        f"Prompt `{main}`: mean ± std over seeds"
        + (f"; in parentheses, `{main}` minus `{ref}`" if ref else "")
        + "; best per row in bold."
    )
    md = [caption, "", "| Metric | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    tex = [
        r"\begin{tabular}{l" + "c" * len(heads) + "}",
        r"\toprule",
        "Metric & " + " & ".join(heads) + r" \\",
        r"\midrule",
    ]
    for (_key, label), row in zip(ROWS, table, strict=True):
        means = [c["mean"] for c in row if c is not None]
        best = max(means) if means else None
        md.append(
            f"| {label} | "
            + " | ".join(_fmt(c, c is not None and np.isclose(c["mean"], best), False) for c in row)
            + " |"
        )
        tex.append(
            label.replace("@", "@").replace("+", "+")
            + " & "
            + " & ".join(_fmt(c, c is not None and np.isclose(c["mean"], best), True) for c in row)
            + r" \\"
        )
    tex += [r"\bottomrule", r"\end{tabular}"]
    latex = "% " + caption.replace("`", "") + "\n" + "\n".join(tex) + "\n"
    return "\n".join(md) + "\n", latex


def aggregate(
    metric_files: list[str | Path],
    runs_csv: str | Path,
    table_md: str | Path,
    table_tex: str | Path,
    main: str,
    ref: str | None,
) -> pd.DataFrame:
    long = collect(metric_files)
    if long.empty:
        raise MorphalignError("no metrics to aggregate")
    md, tex = render(summarise(long), main, ref)
    write_csv(runs_csv, long)
    for path, text in ((table_md, md), (table_tex, tex)):
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
    return long
