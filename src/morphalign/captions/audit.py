"""The caption audit: does a caption set give the class away, and how varied is it?

Per caption set (one prompt over one dataset), from the captions table and the dataset's labels alone:

- **leak scan**: for each configured pattern (class names and their variants: FR-I, FRII, Fanaroff-Riley,
  "type II", "edge-brightened", ...), how many captions match, split by class, with a few examples. A term that
  names the class, or stands in for it, makes every text metric downstream partly a reading test;
- **caption-only classifiers**: macro F1 on the test split of a bag-of-words (TF-IDF) logistic regression fitted
  on the training pool (`morphalign.text.bag_of_words_f1`), once on the captions as written and once with the
  configured morphology words masked (lobe, jet, hotspot, core, ...). The first says how much the words carry;
  the gap to the second, how much of that is the morphological vocabulary the curated prompt asks for;
- **duplicates**: the share of distinct captions and the largest groups of identical ones (identical captions
  tie in retrieval and cap Recall@1);
- **status**: how many captions were edited by hand or failed, when the table says;
- optionally, an **LLM judge** (`captions.judge`): Gemini's verdict, per caption and image, on whether the
  caption's spatial claims hold.

Written to `results/captions/reports/{prompt}.audit_captions.json`; the report gathers every set into
`results/tables/caption_audit.csv`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morphalign.artifacts import load_captions, load_dataset
from morphalign.captions.judge import JudgeSettings, judge_captions
from morphalign.errors import MorphalignError
from morphalign.gemini.client import GeminiSettings
from morphalign.io import write_json
from morphalign.text import bag_of_words_f1, bag_of_words_predict, mask_words

# Each a case-insensitive regular expression; the name of the check is the pattern itself
LEAK_TERMS = (
    r"\bFR[- ]?(I|1)\b",  # FR-I, FRI, FR 1
    r"\bFR[- ]?(II|2)\b",  # FR-II, FRII, FR 2
    r"fanaroff|riley",
    r"\btype[- ](I|II|1|2)\b",
    r"\bclass[- ](I|II|1|2)\b",
    r"edge[- ]bright\w*",
    r"edge[- ]dark\w*",
    r"core[- ]bright\w*",
    r"core[- ]dominated",
)
# The curated prompt's morphological vocabulary; masking it asks whether the rest of a caption still knows the class
MORPHOLOGY_WORDS = (
    "lobe", "lobes", "jet", "jets", "hotspot", "hotspots", "hot", "spot", "spots", "core", "cores", "plume",
    "plumes", "knot", "knots", "edge", "edges", "tip", "tips", "end", "ends", "ending", "fading", "fade", "fades",
    "brightest", "brightened", "bright", "compact",
)  # fmt: skip


@dataclass(frozen=True)
class AuditSettings:
    """The config's `caption_audit` section."""

    leak_terms: tuple[str, ...] = LEAK_TERMS
    morphology_words: tuple[str, ...] = MORPHOLOGY_WORDS
    examples: int = 3  # example captions per leak term and per duplicate group
    duplicate_groups: int = 5  # the largest groups of identical captions listed
    label_names: dict[int, str] = field(default_factory=lambda: {0: "FR-I", 1: "FR-II"})
    judge: JudgeSettings = field(default_factory=JudgeSettings)  # the optional LLM judge (`captions.judge`)

    def class_name(self, label: int) -> str:
        return self.label_names.get(int(label), "unlabelled" if label < 0 else str(label))

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> AuditSettings:
        known = set(cls.__dataclass_fields__)
        unknown = set(section) - known
        if unknown:
            raise MorphalignError(f"caption_audit: unknown key(s) {sorted(unknown)}; expected {sorted(known)}")
        values = dict(section)
        judge = dict(values.pop("judge", None) or {})
        unknown = set(judge) - set(JudgeSettings.__dataclass_fields__)
        if unknown:
            raise MorphalignError(f"caption_audit.judge: unknown key(s) {sorted(unknown)}")
        values["judge"] = JudgeSettings(**judge)
        for key in ("leak_terms", "morphology_words"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def _compile(term: str) -> re.Pattern[str]:
    try:
        return re.compile(term, re.IGNORECASE)
    except re.error as exc:
        raise MorphalignError(f"caption_audit.leak_terms: {term!r} is not a valid regular expression ({exc})") from None


def leak_scan(
    ids: list[str], captions: list[str], labels: np.ndarray, settings: AuditSettings
) -> tuple[list[dict], set[int]]:
    """Per leak term: captions that match, by class, with examples; and the rows any term matched."""
    out, every = [], set()
    for term in settings.leak_terms:
        pattern = _compile(term)
        matches = {i: m for i, c in enumerate(captions) if (m := pattern.search(c))}
        every |= set(matches)
        by_class = Counter(settings.class_name(labels[i]) for i in matches)
        examples = [
            {"id": ids[i], "label": int(labels[i]), "match": m.group(0), "caption": captions[i]}
            for i, m in list(matches.items())[: settings.examples]
        ]
        out.append(
            {
                "term": term,
                "captions": len(matches),
                "share": len(matches) / len(captions),
                "by_class": dict(sorted(by_class.items())),
                "examples": examples,
            }
        )
    return out, every


def duplicates(ids: list[str], captions: list[str], labels: np.ndarray, settings: AuditSettings) -> dict[str, Any]:
    """The share of distinct captions and the largest groups of identical ones."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(captions):
        groups.setdefault(c, []).append(i)
    largest = sorted((g for g in groups.values() if len(g) > 1), key=len, reverse=True)
    return {
        "distinct": len(groups),
        "distinct_share": len(groups) / len(captions),
        "captions_in_duplicate_groups": sum(len(g) for g in groups.values() if len(g) > 1),
        "largest_groups": [
            {
                "caption": captions[g[0]],
                "count": len(g),
                "by_class": dict(sorted(Counter(settings.class_name(labels[i]) for i in g).items())),
                "ids": [ids[i] for i in g[: settings.examples]],
            }
            for g in largest[: settings.duplicate_groups]
        ],
    }


def audit_captions(
    dataset_dir: str | Path,
    captions_csv: str | Path,
    prompt: str,
    settings: AuditSettings,
    out_json: str | Path,
    judge_with: tuple[GeminiSettings, str | Path, str | Path] | None = None,
) -> dict[str, Any]:
    """Audit one caption set of a dataset and write the JSON report atomically; return it.

    With `settings.judge.enabled`, `judge_with` gives the judge its Gemini settings, cache folder and report folder.
    """
    ds = load_dataset(dataset_dir)
    ids = ds.manifest["id"].astype(str).tolist()
    captions = load_captions(captions_csv, ids)
    labels = ds.manifest["label"].to_numpy().astype(int)
    train, test = ds.pool_index(), ds.split_index("test")
    table = pd.read_csv(captions_csv, dtype={"id": str}, keep_default_na=False)
    classifier = {
        "method": "TF-IDF bag of words, logistic regression; fitted on the training pool, macro F1 on test",
        "train": len(train),
        "test": len(test),
        "bag_of_words_f1": bag_of_words_f1(captions, labels, train, test),
        "bag_of_words_f1_masked": bag_of_words_f1(mask_words(captions, settings.morphology_words), labels, train, test),
        "majority_f1": _majority_f1(labels, train, test),
    }
    meta = {
        "backend": sorted(set(table["backend"].astype(str))) if "backend" in table else [],
        "model": sorted(set(table["model"].astype(str))) if "model" in table else [],
        "status": _status(table),
    }
    if settings.judge.enabled:
        if judge_with is None:
            raise MorphalignError("caption_audit.judge is enabled but no Gemini settings reached the audit")
        meta["judge"] = judge_captions(prompt, ids, ds.images, captions, settings.judge, *judge_with)
    return _write(prompt, ids, captions, labels, classifier, meta, settings, out_json)


def audit_published(caption_set: str, folder: str | Path, settings: AuditSettings, out_json: str | Path) -> dict:
    """Audit one of the reference study's published caption sets, read from a local copy of its files.

    The files follow the Confident order of MiraBest's first release (729 training rows, then 104 test rows) and
    carry no image ids. Only the curated test file has labels (`true label`), and the control test file is in the
    same order, so the classes are known for the 104 test rows only. The caption-only classifiers are therefore
    scored by 10-fold stratified cross-validation over those 104 (out-of-fold macro F1); leaks and duplicates are
    counted over all 833 captions, by class where it is known.
    """
    from morphalign.captions.published import FILES, locate, read_caption_file

    def read(which: str, split: str) -> pd.DataFrame:
        path = locate(which, split, folder, download_dir=folder)
        return read_caption_file(path, FILES[(which, split)].rows)

    train, test = read(caption_set, "train"), read(caption_set, "test")
    test_labels = read("curated", "test")["published_label"].to_numpy()
    captions = train["caption"].tolist() + test["caption"].tolist()
    labels = np.concatenate([np.full(len(train), -1), test_labels]).astype(int)
    ids = [f"train-{i:03d}" for i in range(len(train))] + [f"test-{i:03d}" for i in range(len(test))]
    known = np.flatnonzero(labels >= 0)
    classifier = {
        "method": "TF-IDF bag of words, logistic regression; out-of-fold macro F1, 10-fold stratified CV over "
        "the labelled test rows (the published training captions carry no labels)",
        "train": 0,
        "test": len(known),
        "bag_of_words_f1": _cv_f1(captions, labels, known),
        "bag_of_words_f1_masked": _cv_f1(mask_words(captions, settings.morphology_words), labels, known),
        "majority_f1": _majority_f1(labels, known, known),
    }
    edited = int(test["edited"].sum() + train["edited"].sum())
    meta = {"backend": ["published"], "model": ["gemini-2.5-flash (the study's)"], "status": {"edited": edited}}
    return _write(f"published:{caption_set}", ids, captions, labels, classifier, meta, settings, out_json)


def _cv_f1(captions: list[str], labels: np.ndarray, rows: np.ndarray, folds: int = 10) -> float:
    """Out-of-fold macro F1 of `bag_of_words_predict` over `rows` (stratified, fixed seed)."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    predictions = np.empty(len(rows), dtype=int)
    for fit, score in StratifiedKFold(folds, shuffle=True, random_state=0).split(rows, labels[rows]):
        predictions[score] = bag_of_words_predict(captions, labels, rows[fit], rows[score])
    return float(f1_score(labels[rows], predictions, average="macro"))


def _write(
    prompt: str,
    ids: list[str],
    captions: list[str],
    labels: np.ndarray,
    classifier: dict[str, Any],
    meta: dict[str, Any],
    settings: AuditSettings,
    out_json: str | Path,
) -> dict[str, Any]:
    leaks, leaked = leak_scan(ids, captions, labels, settings)
    report: dict[str, Any] = {
        "prompt": prompt,
        "captions": len(captions),
        "backend": meta["backend"],
        "model": meta["model"],
        "leaks": leaks,
        "captions_with_any_leak": len(leaked),
        "classifier": {**classifier, "masked_words": list(settings.morphology_words)},
        "duplicates": duplicates(ids, captions, labels, settings),
        "status": meta["status"],
        "judge": meta.get("judge"),
    }
    write_json(out_json, report)
    return report


def _majority_f1(labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    majority = np.bincount(labels[train]).argmax()
    return float(f1_score(labels[test], np.full(len(test), majority), average="macro"))


def _status(table: pd.DataFrame) -> dict[str, int]:
    out: dict[str, int] = {}
    if "edited" in table:
        out["edited"] = int(table["edited"].astype(str).str.lower().isin({"true", "1"}).sum())
    if "status" in table:
        out["failed"] = int(table["status"].astype(str).str.startswith("failed").sum())
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m morphalign.captions.audit --published {control,curated} --from FOLDER --out FILE.json`."""
    import argparse

    from morphalign.scripting import run_cli

    parser = argparse.ArgumentParser(prog="python -m morphalign.captions.audit", description=main.__doc__)
    parser.add_argument("--published", choices=["control", "curated"], required=True, help="the published set")
    parser.add_argument("--from", dest="folder", required=True, help="folder with the published caption files")
    parser.add_argument("--out", required=True, help="the audit JSON to write")
    args = parser.parse_args(argv)

    def body() -> None:
        report = audit_published(args.published, args.folder, AuditSettings(), args.out)
        c = report["classifier"]
        print(
            f"{report['prompt']}: {report['captions']} captions, {report['captions_with_any_leak']} with a "
            f"class-name leak; bag-of-words F1 {c['bag_of_words_f1']:.3f}, masked {c['bag_of_words_f1_masked']:.3f}"
            f" (majority {c['majority_f1']:.3f}); {report['duplicates']['distinct_share']:.1%} distinct"
        )

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
