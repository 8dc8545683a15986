"""Gemini as a classifier: the FR-I / FR-II class of each test image, asked directly (Riggi et al. 2025, B6).

Zero-shot, the request is the image and the prompt. k-shot, k labelled training images go first as interleaved
turns (the image and the prompt, then the class as the model's answer), as in-context examples (Drozdova et al.
2025). The examples are drawn from the training pool with a fixed seed, as evenly over the classes as k allows,
and are the same for every test image.

Requests go through the shared Gemini client (`morphalign.gemini`): the same cache, concurrency, quota pauses,
retries and audit as the captions. The cache key covers the image, the prompt, the examples (their images and
classes), the model and the generation settings, so changing any of them asks again.

Answers are parsed strictly: after trimming whitespace, quotes, markdown and a final full stop, and ignoring case,
the whole answer must be one of the configured labels or their aliases. Anything else is an *error*: it is never
skipped or re-asked, it is kept in `predictions.csv` with its text, counted in `metrics.json`, and scored as
wrong (a missed positive of its true class, a false positive of none). A request that fails after every retry is
an error too, and stops the stage when more than `captioning.tolerated_failure_fraction` fail, as for captions.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from morphalign.artifacts import load_dataset
from morphalign.errors import MorphalignError
from morphalign.gemini.client import GeminiSettings, api_key, image_hash, png_bytes
from morphalign.gemini.runner import Item, ask_all
from morphalign.gemini.store import CaptionStore, caption_key
from morphalign.io import write_csv, write_json

PROMPT = (
    "This is a radio image of a galaxy from the FIRST survey. Classify its morphology in the Fanaroff-Riley scheme. "
    "Answer with exactly one of: FR-I, FR-II."
)


@dataclass(frozen=True)
class ClassifySettings:
    """One classify run: the config's `classify` section merged with `classify.runs.<name>`."""

    name: str
    shots: int = 0
    prompt: str = PROMPT
    labels: tuple[str, ...] = ("FR-I", "FR-II")  # the answer for class 0, 1, ...
    aliases: dict[str, list[str]] = field(default_factory=dict)  # other spellings accepted for a label
    seed: int = 0  # the draw of the k-shot examples
    split: str = "test"

    @classmethod
    def from_config(cls, name: str, section: dict[str, Any]) -> ClassifySettings:
        runs = section.get("runs") or {}
        if name not in runs:
            raise MorphalignError(f"classify.runs has no run {name!r}; runs: {sorted(runs)}")
        common = {k: v for k, v in section.items() if k not in ("runs", "enabled")}
        merged = {**common, **(runs[name] or {})}
        unknown = set(merged) - set(cls.__dataclass_fields__)
        if unknown:
            raise MorphalignError(f"classify.runs.{name}: unknown key(s) {sorted(unknown)}")
        merged["labels"] = tuple(merged.get("labels", cls.labels))
        bad = set(merged.get("aliases") or {}) - set(merged["labels"])
        if bad:
            raise MorphalignError(f"classify.aliases: {sorted(bad)} are not labels; labels: {list(merged['labels'])}")
        if merged.get("shots", 0) < 0:
            raise MorphalignError(f"classify.runs.{name}.shots must be 0 or more, got {merged['shots']}")
        return cls(name=name, **merged)


def _normal(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().strip("*`\"'").strip()
    return text.rstrip(".").strip().lower()


def answer_table(labels: tuple[str, ...], aliases: dict[str, list[str]]) -> dict[str, int]:
    """Every accepted answer, normalised, and its class."""
    table = {_normal(label): i for i, label in enumerate(labels)}
    for label, spellings in aliases.items():
        for spelling in spellings:
            table[_normal(spelling)] = labels.index(label)
    return table


def parse_answer(text: str | None, table: dict[str, int]) -> int | None:
    """The class a whole answer names, or None: no partial matches, no guessing."""
    return None if text is None else table.get(_normal(text))


def draw_examples(labels: np.ndarray, pool: np.ndarray, shots: int, seed: int) -> np.ndarray:
    """`shots` rows of the pool, as evenly over the classes as `shots` allows, in a seeded order."""
    rng = np.random.default_rng([seed, 11])
    classes = np.unique(labels[pool])
    rounds = -(-shots // max(len(classes), 1))
    order = np.concatenate([rng.permutation(classes) for _ in range(rounds)])[:shots] if shots else []
    picked = []
    for c in classes:
        wanted = int(np.sum(order == c))
        members = rng.permutation(pool[labels[pool] == c])
        if wanted > len(members):
            raise MorphalignError(f"classify: {shots} shots need {wanted} examples of class {c}; the pool has "
                                  f"{len(members)}")  # fmt: skip
        picked += [int(i) for i in members[:wanted]]
    return rng.permutation(np.asarray(picked, dtype=int))


def _key(png: bytes, settings: ClassifySettings, examples: tuple[tuple[bytes, str], ...], gemini: GeminiSettings):
    request = json.dumps(
        {"prompt": settings.prompt, "examples": [[hashlib.sha256(p).hexdigest(), a] for p, a in examples]},
        sort_keys=True,
    )
    return caption_key(image_hash(png), request, gemini.model, gemini.generation())


def scores(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy, macro F1 over the classes, and binary F1 of class 1; an error (-1) is wrong, never a class."""
    from sklearn.metrics import f1_score

    classes = list(range(n_classes))
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "macro_f1": float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)),
        "binary_f1": float(f1_score(labels, predicted, labels=[1], average="macro", zero_division=0)),
    }


def run_classify(
    dataset_dir: str | Path,
    settings: ClassifySettings,
    gemini: GeminiSettings,
    cache_dir: str | Path,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Ask for the class of every image of `settings.split`; write predictions, metrics and the request reports."""
    key = api_key()  # a missing key stops the stage before any work
    table = answer_table(settings.labels, settings.aliases)
    ds = load_dataset(dataset_dir)
    labels = ds.manifest["label"].to_numpy().astype(int)
    ids = ds.manifest["id"].astype(str).to_numpy()
    rows = ds.split_index(settings.split)
    if not len(rows):
        raise MorphalignError(f"classify: the dataset at {dataset_dir} has no {settings.split!r} rows")
    if labels.max() >= len(settings.labels):
        raise MorphalignError(f"classify.labels {list(settings.labels)} name fewer classes than the dataset has")
    shots = draw_examples(labels, ds.pool_index(), settings.shots, settings.seed)
    examples = tuple((png_bytes(ds.images[i]), settings.labels[labels[i]]) for i in shots)
    items = []
    for i in rows:
        png = png_bytes(ds.images[i])
        items.append(Item(str(ids[i]), _key(png, settings, examples, gemini), png, examples))
    out = Path(out_dir)
    store = CaptionStore(Path(cache_dir) / f"{settings.name}.jsonl")
    records, failures = ask_all(
        items, settings.name, settings.prompt, gemini, key, store, out / "audit.json", out / "failures.csv"
    )
    failed = {f.id: f for f in failures}
    if len(failed) > gemini.tolerated_failure_fraction * len(items):
        raise MorphalignError(
            f"{len(failed)} of {len(items)} classify requests failed for {settings.name!r} (tolerated: "
            f"{gemini.tolerated_failure_fraction:.1%}); see {out / 'failures.csv'}. Rerun to retry only those."
        )
    answers, predicted, status = [], [], []
    for it in items:
        rec = records.get(it.key)
        text = rec["caption"] if rec else None
        cls = parse_answer(text, table)
        answers.append(text)
        predicted.append(-1 if cls is None else cls)
        status.append("ok" if cls is not None else "unparsable" if rec else f"failed:{failed[it.id].reason}")
    predicted_arr = np.asarray(predicted)
    frame = pd.DataFrame(
        {"id": ids[rows], "label": labels[rows], "predicted": predicted_arr, "status": status, "answer": answers}
    )
    write_csv(out / "predictions.csv", frame)
    metrics = {
        "name": settings.name,
        "model": gemini.model,
        "shots": settings.shots,
        "examples": [str(ids[i]) for i in shots],
        "split": settings.split,
        "n": len(items),
        "errors": int(np.sum(predicted_arr < 0)),
        "unparsable": status.count("unparsable"),
        "failed": len(failed),
        **scores(labels[rows], predicted_arr, len(settings.labels)),
        "labels": list(settings.labels),
        "prompt_sha256": hashlib.sha256(settings.prompt.encode()).hexdigest(),
    }
    write_json(out / "metrics.json", metrics)
    return metrics
