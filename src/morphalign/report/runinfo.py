"""The report's provenance page: how the sweep was run and what its captions cost.

From the files the sweep already writes (the metrics files are those `tables/runs.csv` lists, so the page depends on
one table rather than on every run's file):

- the resolved config (every default filled in), as YAML;
- the versions of the package and the libraries that determine results, as each run's metrics file recorded them,
  flagged when runs disagree, and those of the environment that built the report;
- per run: device, launcher precision, epochs trained, best validation loss and training wall time, with totals
  per prompt and target;
- caption costs: for each prompt its backend and model, how many captions were edited or failed (the caption audit),
  and what the Gemini calls cost (`{prompt}.audit.json` of the captioning, `{prompt}.judge_audit.json` of the
  optional caption judge, `classify/{name}/audit.json` of the generative baseline) when there were any.
"""

from __future__ import annotations

import html
import platform
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from morphalign.errors import MorphalignError
from morphalign.io import read_json
from morphalign.provenance import library_versions
from morphalign.report.pages import frame_html, write_page

RUN_FIELDS = ("prompt", "target", "seed", "device", "epochs_trained", "best_val_loss", "train_wall_time_s")
COST_FIELDS = ("prompt", "model", "mode", "images", "requests_sent", "cached_hits", "failures", "input_tokens",
               "output_tokens", "estimated_cost_usd", "seconds")  # fmt: skip


def run_table(metric_files: list[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per run, one row per distinct set of library versions with its run count)."""
    runs, versions = [], []
    for path in metric_files:
        m = read_json(path)
        runs.append({f: m.get(f) for f in RUN_FIELDS} | {"metrics": str(path)})
        versions.append(m.get("versions") or {})
    table = pd.DataFrame(runs, columns=[*RUN_FIELDS, "metrics"])
    table["seed"] = table["seed"].astype("Int64")
    seen = pd.DataFrame(versions).fillna("")
    distinct = seen.value_counts(dropna=False).reset_index(name="runs") if len(seen.columns) else seen
    return table, distinct


def caption_costs(audit_files: list[str | Path], cost_files: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per prompt: backend, model and edited / failed counts; per Gemini job: tokens and estimated cost)."""
    sets = []
    for path in audit_files:
        a = read_json(path)
        status = a.get("status") or {}
        sets.append(
            {
                "prompt": a.get("prompt"),
                "captions": a.get("captions"),
                "backend": ", ".join(a.get("backend") or []),
                "model": ", ".join(a.get("model") or []),
                "edited": status.get("edited", 0),
                "failed": status.get("failed", 0),
            }
        )
    jobs = []
    for path in cost_files:
        a = read_json(path)
        jobs.append({"file": path.name, **{f: a.get(f) for f in COST_FIELDS}})
    return pd.DataFrame(sets), pd.DataFrame(jobs, columns=["file", *COST_FIELDS])


def cost_files(report_dirs: list[str | Path]) -> list[Path]:
    """The Gemini audits (captioning, judge, generative baseline) found in the given folders."""
    found: list[Path] = []
    for d in map(Path, report_dirs):
        if d.is_dir():
            found += sorted(p for p in d.rglob("*audit.json") if not p.name.endswith("audit_captions.json"))
    return found


def metric_files(runs_csv: str | Path) -> list[str]:
    """The metrics files behind `runs.csv` (its `source` column), in its order."""
    try:
        table = pd.read_csv(runs_csv, usecols=["source"])
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MorphalignError(f"{runs_csv}: not a runs table with a source column ({exc})") from exc
    return list(dict.fromkeys(table["source"].astype(str)))


def provenance_page(
    runs_csv: str | Path,
    audit_files: list[str | Path],
    report_dirs: list[str | Path],
    config: dict[str, Any],
    out: str | Path,
) -> None:
    """Write the provenance page."""
    runs, versions = run_table(metric_files(runs_csv))
    sets, jobs = caption_costs(audit_files, cost_files(report_dirs))
    parts = ["<h2>Libraries</h2>"]
    if len(versions) > 1:
        parts.append(f"<p class='warn'>The runs used {len(versions)} different sets of library versions.</p>")
    parts.append("<p>As each run's metrics file recorded them:</p>" + frame_html(versions))
    here = {**library_versions(), "platform": platform.platform()}
    parts.append("<p>The environment that built this page:</p>")
    parts.append(frame_html(pd.DataFrame([here])))
    parts.append("<h2>Runs</h2>")
    trained = runs[runs["seed"].notna()]
    if len(trained):
        totals = (
            trained.groupby(["prompt", "target"], sort=False)
            .agg(runs=("seed", "size"), devices=("device", lambda d: ", ".join(sorted(set(map(str, d))))),
                 epochs_mean=("epochs_trained", "mean"), train_hours=("train_wall_time_s", lambda s: s.sum() / 3600))
            .reset_index()
        )  # fmt: skip
        total_h = trained["train_wall_time_s"].sum() / 3600
        parts.append(f"<p>{len(trained)} trained runs, {total_h:.2f} hours of training in all.</p>")
        parts.append(frame_html(totals, "{:.3g}"))
    parts.append(frame_html(runs.drop(columns="metrics"), "{:.4g}"))
    parts.append("<h2>Captions and their cost</h2>")
    parts.append(frame_html(sets))
    if len(jobs):
        known = pd.to_numeric(jobs["estimated_cost_usd"], errors="coerce")
        parts.append(
            f"<p>Gemini calls: estimated ${known.sum():.2f} in all (prices from the config; blank: no price).</p>"
        )
        parts.append(frame_html(jobs, "{:.4g}"))
    else:
        parts.append("<p>No Gemini calls: every caption set came from an offline backend or a published file.</p>")
    parts.append("<h2>Config</h2>")
    parts.append(f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False, width=110))}</pre>")
    write_page(out, "Provenance", "\n".join(parts))
