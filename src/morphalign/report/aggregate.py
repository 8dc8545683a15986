"""Collect every run's metrics and predictions into Table 1 v2: values with intervals, and tested differences.

- `runs.csv`: one row per (prompt, target, seed, metric) with the value.
- `table1.csv` (long format): one row per `cell` (a prompt and target: mean and std over seeds, the number of seeds
  and test images, the bootstrap interval, the row's chance level, whether it is bold) and per `difference` (the main
  prompt minus the reference prompt for each target, each trained target minus frozen for the main prompt, and the
  main prompt minus each of its shuffled-caption controls for each target both ran: the
  difference of means, its paired bootstrap interval, the permutation p-value, its Holm adjustment over every
  difference in the table, whether that is below alpha, and for probes with one run per arm the exact McNemar p).
- `table1.md` / `table1.tex`: rows are metrics. Table 1 has the main prompt's cells, one column per target plus the
  row's chance level; Table 1b the main minus reference differences; Table 1c each target minus frozen; Table 1d
  the main prompt minus each shuffled control (what survives when captions no longer describe their image). A `*` marks
  a difference significant after Holm's correction; bold marks a cell that is significantly the best of its row
  (its permutation tests against every other cell of the row, Holm-adjusted within the row, all below alpha).

The frozen baseline is one deterministic run per prompt, so its spread is over test images only. Methods are in
`morphalign.report.uncertainty`; the per-image metric definitions in `morphalign.scores`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morphalign.errors import MorphalignError
from morphalign.io import atomic_path, read_json, write_csv
from morphalign.report.uncertainty import (
    Arm,
    bootstrap_cell,
    bootstrap_difference,
    check_same_images,
    holm,
    mcnemar,
    permutation_test,
)
from morphalign.runs import FROZEN, TARGETS
from morphalign.scores import chance, classifier_column, metric_function

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
    ("zeroshot_f1_prompts", "Zero-shot F1, class prompts"),
    ("zeroshot_f1_centroids", "Zero-shot F1, caption centroids"),
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


@dataclass(frozen=True)
class Uncertainty:
    """How intervals and tests are computed (the workflow's `report.uncertainty`)."""

    resamples: int = 2000  # bootstrap draws: the 2.5 % tail then rests on 50 draws
    permutations: int = 9999  # smallest p 1e-4, so it survives Holm over the table's ~70 differences
    seed: int = 2025  # one fixed stream: a rerun reproduces every interval and p-value
    confidence: float = 0.95
    alpha: float = 0.05


def stream(seed: int, *names: str) -> np.random.Generator:
    """The random stream of one statistic: fixed by the seed and what it is about, so a cell's interval does not
    change when runs are added to the sweep or listed in another order."""
    digest = hashlib.sha256("|".join(names).encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def load_arms(metric_files: list[str | Path], prediction_files: list[str | Path]) -> dict[tuple[str, str], Arm]:
    """Each (prompt, target)'s predictions tables in seed order; the predictions file i belongs to metrics file i."""
    if len(metric_files) != len(prediction_files):
        raise MorphalignError(f"{len(metric_files)} metrics files but {len(prediction_files)} predictions files")
    found: dict[tuple[str, str], list[tuple[int, pd.DataFrame, str]]] = {}
    for mf, pf in zip(metric_files, prediction_files, strict=True):
        m = read_json(mf)
        try:
            table = pd.read_csv(pf)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise MorphalignError(f"{pf}: cannot read the predictions table: {exc}") from exc
        missing = [c for c in ("label", "cosine", "rank_i2t", "rank_t2i") if c not in table.columns]
        if missing:
            raise MorphalignError(f"{pf}: predictions table lacks column(s) {missing}; rerun its evaluate job")
        found.setdefault((m["prompt"], m["target"]), []).append((m.get("seed") or 0, table, str(pf), str(mf)))
    arms = {}
    for (prompt, tgt), runs in found.items():
        runs.sort(key=lambda r: r[0])
        tables, preds, metrics = (tuple(r[i] for r in runs) for i in (1, 2, 3))
        arms[prompt, tgt] = Arm(f"{prompt}/{tgt}", tables, preds, metrics)
    check_same_images(list(arms.values()))
    return arms


def _targets(arms: dict[tuple[str, str], Arm], prompt: str) -> list[str]:
    return [t for t in TARGETS if (prompt, t) in arms]


def table1(
    long: pd.DataFrame,
    arms: dict[tuple[str, str], Arm],
    main: str,
    ref: str | None,
    u: Uncertainty,
    f1_average: str = "macro",
    positive: int = 1,
    controls: tuple[str, ...] = (),
    workers: int = 1,
) -> pd.DataFrame:
    """The long-format Table 1 v2 (see the module docstring); probes scored with `f1_average` F1.

    `controls` are prompts whose captions are the main prompt's, shuffled over the training images. Each metric's
    cells and differences draw from their own seeded streams, so `workers` processes compute the rows in parallel
    and give the same table as one.
    """
    if main not in {p for p, _ in arms}:
        raise MorphalignError(
            f"report.main_prompt: no runs for prompt {main!r}; prompts run: {sorted({p for p, _ in arms})}"
        )
    ref = ref if ref != main and any(p == ref for p, _ in arms) else None
    summary = summarise(long).set_index(["prompt", "target", "metric"])
    present = set(long.metric)
    rows_of = [(key, label) for key, label in ROWS if key in present]  # e.g. zero-shot needs class_text
    for key, _ in rows_of:
        for arm in arms.values():
            if (*arm.name.split("/"), key) in summary.index:
                _check_agrees(arm, metric_function(key, f1_average, positive), key, long)
    job = functools.partial(
        _metric_rows, arms=arms, summary=summary, main=main, ref=ref, u=u, f1_average=f1_average,
        positive=positive, controls=controls,
    )  # fmt: skip
    if workers > 1 and len(rows_of) > 1:
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(rows_of))) as pool:
            parts = list(pool.map(job, rows_of))
    else:
        parts = [job(row) for row in rows_of]
    out = pd.DataFrame([r for part in parts for r in part])
    diff = out["kind"] == "difference"
    if diff.any():
        out.loc[diff, "p_holm"] = holm(out.loc[diff, "p"].to_numpy())
        out.loc[diff, "significant"] = out.loc[diff, "p_holm"] < u.alpha
    columns = [
        "kind", "metric", "label", "prompt", "target", "versus_prompt", "versus_target", "mean", "std", "n_seeds",
        "n_test", "ci_low", "ci_high", "chance", "p", "p_holm", "significant", "p_mcnemar", "bold",
    ]  # fmt: skip
    return out.reindex(columns=columns)


def _metric_rows(
    row: tuple[str, str],
    arms: dict[tuple[str, str], Arm],
    summary: pd.DataFrame,
    main: str,
    ref: str | None,
    u: Uncertainty,
    f1_average: str,
    positive: int,
    controls: tuple[str, ...],
) -> list[dict[str, Any]]:
    """One metric's cells (every arm), differences (main vs reference, vs frozen, vs each control) and bold mark."""
    key, label = row
    metric = metric_function(key, f1_average, positive)
    labels = next(iter(arms.values())).tables[0]["label"].to_numpy()
    base = {"metric": key, "label": label, "chance": chance(key, labels, f1_average, positive)}
    rows: list[dict[str, Any]] = []
    for prompt, tgt in arms:
        if (prompt, tgt, key) not in summary.index:
            continue
        stats = summary.loc[(prompt, tgt, key)]
        arm = arms[prompt, tgt]
        low, high = bootstrap_cell(arm, metric, u.resamples, stream(u.seed, key, arm.name), u.confidence)
        rows.append(
            base
            | {"kind": "cell", "prompt": prompt, "target": tgt, "mean": float(stats["mean"])}
            | {"std": float(stats["std"]), "n_seeds": len(arm.tables), "n_test": arm.n}
            | {"ci_low": low, "ci_high": high, "bold": False}
        )
    comparisons = [((main, t), (ref, t)) for t in _targets(arms, main) if ref and (ref, t) in arms]
    if (main, FROZEN) in arms:
        comparisons += [((main, t), (main, FROZEN)) for t in _targets(arms, main) if t != FROZEN]
    comparisons += [((main, t), (c, t)) for c in controls for t in _targets(arms, c) if (main, t) in arms]
    for a, b in comparisons:
        rows.append(base | _difference(arms[a], arms[b], key, metric, u) | {"kind": "difference"})
    _mark_best(rows, arms, main, key, metric, u)
    return rows


def _check_agrees(arm: Arm, metric, key: str, long: pd.DataFrame) -> None:
    """Each run's metric recomputed from its predictions must equal its metrics file's (same test set, same F1)."""
    everything = np.arange(arm.n)
    for table, source, metrics in zip(arm.tables, arm.sources, arm.metric_files, strict=False):
        written = long[(long.source == metrics) & (long.metric == key)]
        if written.empty:
            continue
        value = float(metric(table, everything))
        if not np.isclose(value, written["value"].iloc[0], rtol=0, atol=1e-9):
            raise MorphalignError(
                f"{source}: {key} from the predictions is {value:.6f} but its metrics file says "
                f"{written['value'].iloc[0]:.6f}; were they written with different evaluate settings "
                f"(f1_average, positive_class)? Rerun the evaluate job"
            )


def _difference(a: Arm, b: Arm, key: str, metric, u: Uncertainty) -> dict[str, Any]:
    (pa, ta), (pb, tb) = a.name.split("/"), b.name.split("/")
    low, high = bootstrap_difference(a, b, metric, u.resamples, stream(u.seed, key, a.name, b.name), u.confidence)
    everything = np.arange(a.n)
    mean = float(
        np.mean([metric(t, everything) for t in a.tables]) - np.mean([metric(t, everything) for t in b.tables])
    )
    column = classifier_column(key)
    p_mcnemar = None
    if column is not None and len(a.tables) == 1 and len(b.tables) == 1:
        y = a.tables[0]["label"].to_numpy()
        p_mcnemar = mcnemar(a.tables[0][column].to_numpy() == y, b.tables[0][column].to_numpy() == y)
    return {
        "prompt": pa, "target": ta, "versus_prompt": pb, "versus_target": tb, "mean": mean,
        "n_seeds": min(len(a.tables), len(b.tables)), "n_test": a.n, "ci_low": low, "ci_high": high,
        "p": permutation_test(a, b, metric, u.permutations, stream(u.seed, key, a.name, b.name, "test")),
        "p_mcnemar": p_mcnemar,
    }  # fmt: skip


def _mark_best(rows, arms, main: str, key: str, metric, u: Uncertainty) -> None:
    """Bold the main prompt's best cell of a row when it beats every other cell (Holm within the row)."""
    cells = [r for r in rows if r["kind"] == "cell" and r["metric"] == key and r["prompt"] == main]
    if len(cells) < 2:
        return
    best = max(cells, key=lambda r: r["mean"])
    others = [r for r in cells if r is not best]
    a = arms[main, best["target"]]
    p = [
        permutation_test(a, arms[main, r["target"]], metric, u.permutations, stream(u.seed, key, a.name, r["target"]))
        for r in others
    ]
    best["bold"] = bool(np.all(holm(p) < u.alpha))


def _cell_text(r: pd.Series | None, latex: bool) -> str:
    if r is None:
        return "--" if latex else "–"
    pm = r" $\pm$ " if latex else " ± "
    text = f"{r['mean']:.3f}" + (f"{pm}{r['std']:.3f}" if r["n_seeds"] > 1 else "")
    if r["bold"]:
        text = rf"\textbf{{{text}}}" if latex else f"**{text}**"
    return text + f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"


def _diff_text(r: pd.Series | None, latex: bool) -> str:
    if r is None:
        return "--" if latex else "–"
    star = ("$^*$" if latex else "*") if r["significant"] else ""
    low, mean, high = (round(float(r[k]), 3) + 0.0 for k in ("ci_low", "mean", "ci_high"))  # no "-0.000"
    return f"{mean:+.3f}{star} [{low:+.3f}, {high:+.3f}]"


def _grid(title: str, heads: list[str], body: list[tuple[str, list[str]]], latex: bool) -> str:
    if latex:
        lines = [f"% {title}", r"\begin{tabular}{l" + "c" * len(heads) + "}", r"\toprule"]
        lines += ["Metric & " + " & ".join(heads) + r" \\", r"\midrule"]
        lines += [label + " & " + " & ".join(cells) + r" \\" for label, cells in body]
        return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"
    lines = [title, "", "| Metric | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in body]
    return "\n".join(lines) + "\n"


def render(
    table: pd.DataFrame,
    main: str,
    ref: str | None,
    u: Uncertainty,
    scoring: str = "macro F1",
    controls: tuple[str, ...] = (),
) -> tuple[str, str]:
    """Table 1 v2 as (markdown, latex): values, main minus reference, target minus frozen, main minus controls."""
    cells = table[(table.kind == "cell") & (table.prompt == main)]
    diffs = table[table.kind == "difference"]
    targets = [t for t in TARGETS if t in set(cells.target)]
    trained_seeds = sorted({int(n) for n in cells[cells.target != FROZEN].n_seeds})
    n_test = int(cells.n_test.iloc[0])
    m = len(diffs)
    pct = f"{100 * u.confidence:g}%"
    basis = (
        f"{n_test} test images; "
        + (f"{'/'.join(map(str, trained_seeds))} seed(s) per trained target; " if trained_seeds else "")
        + ("the frozen baseline is one deterministic run. " if FROZEN in targets else "")
        + f"Brackets: {pct} interval from a hierarchical bootstrap over seeds and test images ({u.resamples} draws, "
        f"seed {u.seed})."
    )

    def find(frame: pd.DataFrame, key: str, **where: str) -> pd.Series | None:
        sel = frame[frame.metric == key]
        for col, val in where.items():
            sel = sel[sel[col] == val]
        return sel.iloc[0] if len(sel) else None

    out: dict[bool, list[str]] = {False: [], True: []}
    for latex in (False, True):
        heads = ["Chance", *[TARGETS[t].label for t in targets]]
        body = []
        for key, label in ROWS:
            row = [find(cells, key, target=t) for t in targets]
            if all(r is None for r in row):
                continue
            ch = row_chance(table, key)
            chance_text = "--" if latex and ch is None else ("–" if ch is None else f"{ch:.3f}")
            body.append((label, [chance_text, *[_cell_text(r, latex) for r in row]]))
        title = (
            f"Table 1. Prompt `{main}`: mean ± std over seeds; probes scored by {scoring}. {basis} "
            "Bold: significantly the best of its row (paired permutation tests against each other cell, "
            f"Holm-adjusted within the row, p < {u.alpha:g})."
        )
        out[latex].append(_grid(title, heads, body, latex))
        star = (
            f"`*`: p < {u.alpha:g} after Holm's correction over all {m} differences in Tables 1b-1d (paired "
            f"permutation test over test images, {u.permutations} permutations)."
        )
        if ref is not None and (diffs.versus_prompt == ref).any():
            body = [
                (label, [_diff_text(find(diffs, key, target=t, versus_prompt=ref), latex) for t in targets])
                for key, label in ROWS
                if find(diffs, key, versus_prompt=ref) is not None
            ]
            title = f"Table 1b. `{main}` minus `{ref}`, per target, with its paired {pct} interval. {star}"
            out[latex].append(_grid(title, [TARGETS[t].label for t in targets], body, latex))
        vs_frozen = diffs[(diffs.versus_target == FROZEN) & (diffs.versus_prompt == main)]
        if len(vs_frozen):
            trained = [t for t in targets if t != FROZEN]
            body = [
                (label, [_diff_text(find(vs_frozen, key, target=t), latex) for t in trained])
                for key, label in ROWS
                if find(vs_frozen, key) is not None
            ]
            title = f"Table 1c. Prompt `{main}`: each target minus frozen, with its paired {pct} interval. {star}"
            out[latex].append(_grid(title, [f"{TARGETS[t].label} − Frozen" for t in trained], body, latex))
        vs_control = diffs[diffs.versus_prompt.isin(controls) & (diffs.prompt == main)]
        if len(vs_control):
            pairs = list(dict.fromkeys(zip(vs_control.versus_prompt, vs_control.target, strict=True)))
            body = [
                (label, [_diff_text(find(vs_control, key, versus_prompt=c, target=t), latex) for c, t in pairs])
                for key, label in ROWS
                if find(vs_control, key) is not None
            ]
            heads = [f"{TARGETS[t].label}: `{main}` − `{c}`" for c, t in pairs]
            title = (
                f"Table 1d. Shuffled-caption controls: `{main}` minus the same captions shuffled over the training "
                f"images, per target, with its paired {pct} interval (test captions are true in both). A gain that "
                f"comes from what each caption says about its own image is positive here. {star}"
            )
            out[latex].append(_grid(title, heads, body, latex))
    md = "\n".join(out[False])
    tex = "\n".join(part.replace("`", "").replace("−", "--").replace("±", r"$\pm$") for part in out[True])
    return md, tex


def row_chance(table: pd.DataFrame, key: str) -> float | None:
    values = table.loc[table.metric == key, "chance"].dropna()
    return float(values.iloc[0]) if len(values) else None


def aggregate(
    metric_files: list[str | Path],
    prediction_files: list[str | Path],
    out: dict[str, str | Path],
    main: str,
    ref: str | None,
    uncertainty: Uncertainty | None = None,
    f1_average: str = "macro",
    positive: int = 1,
    controls: tuple[str, ...] | list[str] = (),
    workers: int = 1,
) -> pd.DataFrame:
    """Write `runs.csv`, `table1.csv`, `table1.md` and `table1.tex` (keys `runs`, `csv`, `md`, `tex` of `out`).

    `controls`: the main prompt's shuffled-caption controls, compared with it in Table 1d. `workers`: processes
    for the resampling (the table is the same for any number).
    """
    u = uncertainty or Uncertainty()
    long = collect(metric_files)
    if long.empty:
        raise MorphalignError("no metrics to aggregate")
    arms = load_arms(metric_files, prediction_files)
    controls = tuple(c for c in controls if any(p == c for p, _ in arms))
    table = table1(long, arms, main, ref, u, f1_average, positive, controls, workers)
    ref = ref if (table.versus_prompt == ref).any() else None
    scoring = "macro F1" if f1_average == "macro" else f"binary F1 of class {positive}"
    md, tex = render(table, main, ref, u, scoring, controls)
    write_csv(out["runs"], long)
    write_csv(out["csv"], table)
    for path, text in ((out["md"], md), (out["tex"], tex)):
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)
    return table
