"""Aggregation into Table 1, and the code hash that makes code edits rerun the workflow."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from morphalign.errors import MorphalignError
from morphalign.report.aggregate import aggregate, collect, render, summarise


def _metrics(tmp_path, prompt, target, seed, value):
    path = tmp_path / f"{prompt}_{target}_{seed}.json"
    path.write_text(
        json.dumps(
            {
                "prompt": prompt,
                "target": target,
                "seed": seed,
                "recall_at_1": value,
                "mean_cosine": value / 2,
                "config": {"a": 1},
                "versions": {"torch": "x"},
            }
        )
    )
    return path


def test_table_mean_std_diff_and_bold(tmp_path):
    files = [
        _metrics(tmp_path, "curated", "frozen", 0, 0.10),
        _metrics(tmp_path, "control", "frozen", 0, 0.05),
        _metrics(tmp_path, "curated", "vision", 0, 0.20),
        _metrics(tmp_path, "curated", "vision", 1, 0.40),
        _metrics(tmp_path, "control", "vision", 0, 0.10),
        _metrics(tmp_path, "control", "vision", 1, 0.10),
    ]
    long = collect(files)
    assert set(long["metric"]) == {"recall_at_1", "mean_cosine"}  # nested provenance is skipped
    assert long[(long.target == "frozen")]["seed"].isna().all()
    md, tex = render(summarise(long), "curated", "control")
    row = next(line for line in md.splitlines() if line.startswith("| Recall@1"))
    # frozen 0.100 (+0.050); vision mean 0.300, sample std 0.141, diff +0.200, best -> bold
    assert "| 0.100 (+0.050) |" in row
    assert "**0.300 ± 0.141** (+0.200)" in row
    assert r"\textbf{0.300 $\pm$ 0.141} (+0.200)" in tex
    assert "Frozen" in md and "Vision" in md and "Text" not in md


def test_aggregate_writes_three_files(tmp_path):
    files = [_metrics(tmp_path, "curated", "text", s, 0.1 * s) for s in range(3)]
    out = tmp_path / "out"
    aggregate(files, out / "runs.csv", out / "t.md", out / "t.tex", "curated", "control")
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 6 and set(runs.columns) >= {"prompt", "target", "seed", "metric", "value"}
    assert "(+" not in (out / "t.md").read_text()  # no reference prompt ran: no difference shown


def test_missing_main_prompt(tmp_path):
    long = collect([_metrics(tmp_path, "control", "text", 0, 0.1)])
    with pytest.raises(MorphalignError, match="main_prompt: no runs for prompt 'curated'"):
        render(summarise(long), "curated", "control")
