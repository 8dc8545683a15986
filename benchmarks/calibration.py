"""Print every calibration figure of the embedded default, each beside the range it is calibrated to.

Run the default first (`snakemake --cores 2`), then `python benchmarks/calibration.py [results]`. It reads the
sweep's outputs only: `tables/calibration.csv` (images and captions, no model), the pretraining report, the frozen
and trained runs' metrics, and the scientific checks of `morphalign.report.guards`. Exit status 1 when a figure is
out of its range.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from morphalign.report.guards import all_checks

RANGES = {  # the embedded default's calibration targets (MiraBest F and the published Gemini captions in brackets)
    ("images", "raw_pixel_lr_f1"): (0.60, 0.80),  # [0.67 on MiraBest F]
    ("captions:control", "bag_of_words_f1"): (0.65, 0.85),  # [about 0.72 on the published control captions]
    ("captions:curated", "bag_of_words_f1"): (0.65, 0.85),  # [about 0.75 on the published curated captions]
    ("captions:control", "distinct_share"): (0.90, 1.00),
    ("captions:curated", "distinct_share"): (0.90, 1.00),
    ("captions:control", "class_name_mentions"): (0, 0),
    ("captions:curated", "class_name_mentions"): (0, 0),
}


def main(results: Path) -> int:
    table = pd.read_csv(results / "tables" / "calibration.csv")
    v = {(r.subject, r.measure): r.value for r in table.itertuples()}
    bad = 0
    print("== calibration (no model)")
    for (subject, measure), value in v.items():
        lo_hi = RANGES.get((subject, measure))
        flag = "" if lo_hi is None else ("ok" if lo_hi[0] <= value <= lo_hi[1] else "OUT OF RANGE")
        bad += flag == "OUT OF RANGE"
        rng = "" if lo_hi is None else f"[{lo_hi[0]:g}, {lo_hi[1]:g}]"
        print(f"  {subject:18s} {measure:30s} {value:8.3f}  {rng:14s} {flag}")
    gap = v[("captions:curated", "bag_of_words_f1")] - v[("captions:control", "bag_of_words_f1")]
    vocab = (v[("captions:control", "vocabulary")], v[("captions:curated", "vocabulary")])
    for name, ok, text in (
        ("curated - control bag-of-words F1 below 0.10", abs(gap) < 0.10, f"{gap:+.3f}"),
        ("control vocabulary larger than curated", vocab[0] > vocab[1], f"{vocab[0]:.0f} vs {vocab[1]:.0f}"),
    ):
        bad += not ok
        print(f"  {name:50s} {text:16s} {'ok' if ok else 'OUT OF RANGE'}")
    frozen = json.loads((results / "runs" / "curated" / "frozen" / "metrics.json").read_text())
    probe = frozen["linear_probe_f1_image"]
    bad += probe >= 0.95
    print(f"  frozen pretrained image probe F1 below 0.95             {probe:.3f}  {'ok' if probe < 0.95 else 'OUT'}")
    print("== scientific checks")
    for name, ok, detail in all_checks(results, "curated"):
        bad += not ok
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results")))
