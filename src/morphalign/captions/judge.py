"""An LLM judge of caption faithfulness: Gemini looks at each image and its caption and says, as JSON, whether the
caption's spatial claims hold.

Optional (`caption_audit.judge.enabled`), because it costs one request per caption. For each caption (or a seeded
sample of `judge.sample`), the request is the image and a question that quotes the caption and asks for a JSON
verdict with these keys:

- `components`: does the number of sources or components the caption claims match the image (true/false/null when
  the caption claims none);
- `positions`: do the positions it gives (left, right, top, bottom, center) match;
- `lobes_jets`: do the lobes or jets it describes exist where it says;
- `verdict`: `faithful`, `partly` or `unfaithful`.

Answers are parsed strictly (a JSON object, optionally in a ```json fence, with those keys and values); anything
else is an error, counted and kept. Before any request the judge estimates the cost from the configured prices
(image and text tokens in, a short verdict out) and stops, naming the estimate, if it exceeds `judge.max_cost_usd`.
Verdicts are cached like captions (`resources/captions/{prompt}.judge.jsonl`, keyed by the image, the question with
the caption, the model and the generation settings).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from morphalign.errors import MorphalignError
from morphalign.gemini.client import GeminiSettings, api_key, image_hash, png_bytes
from morphalign.gemini.runner import Item, ask_all
from morphalign.gemini.store import CaptionStore, caption_key

QUESTION = (
    'You are checking a caption written for this radio astronomy image. Caption: "{caption}"\n'
    "Answer only with a JSON object with these keys: "
    '"components" (true if the number of sources or components the caption claims matches the image, false if '
    "not, null if it claims none), "
    '"positions" (true/false/null: do the positions it gives, such as left, right, top, bottom or center, match), '
    '"lobes_jets" (true/false/null: do the lobes or jets it describes exist where it says), '
    '"verdict" ("faithful", "partly" or "unfaithful").'
)
CLAIMS = ("components", "positions", "lobes_jets")
VERDICTS = ("faithful", "partly", "unfaithful")
IMAGE_TOKENS = 258  # Gemini 2.x bills a small image (both sides <= 384 px) as 258 tokens
OUTPUT_TOKENS = 60  # a short JSON verdict
TOKENS_PER_WORD = 1.4


@dataclass(frozen=True)
class JudgeSettings:
    """The config's `caption_audit.judge` section."""

    enabled: bool = False
    question: str = QUESTION  # `{caption}` is replaced by the caption
    sample: int | None = None  # judge a seeded sample of this many captions (None: all)
    seed: int = 0
    max_cost_usd: float | None = 5.0  # a guard: the estimate above it stops the stage before any request


def parse_verdict(text: str | None) -> dict[str, Any] | None:
    """The verdict as a dict, or None when the answer is not exactly the JSON asked for."""
    if text is None:
        return None
    body = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip())
    try:
        verdict = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(verdict, dict) or set(verdict) != {*CLAIMS, "verdict"}:
        return None
    if any(verdict[k] not in (True, False, None) for k in CLAIMS) or verdict["verdict"] not in VERDICTS:
        return None
    return verdict


def estimate_cost(questions: list[str], settings: GeminiSettings) -> float | None:
    """USD for these requests at the configured price (None when the model has no price)."""
    price = settings.prices.get(settings.model)
    if price is None:
        return None
    tokens_in = sum(IMAGE_TOKENS + TOKENS_PER_WORD * len(q.split()) for q in questions)
    tokens_out = OUTPUT_TOKENS * len(questions)
    cost = (tokens_in * price.get("input_per_million", 0.0) + tokens_out * price.get("output_per_million", 0.0)) / 1e6
    return cost * (price.get("batch_discount", 0.5) if settings.mode == "batch" else 1.0)


def judge_captions(
    prompt: str,
    ids: list[str],
    images: np.ndarray,
    captions: list[str],
    settings: JudgeSettings,
    gemini: GeminiSettings,
    cache_dir: str | Path,
    report_dir: str | Path,
) -> dict[str, Any]:
    """Ask for a verdict on each caption (or a sample); return the summary that goes into the caption audit."""
    key = api_key()
    rows = np.arange(len(captions))
    if settings.sample is not None and settings.sample < len(rows):
        rows = np.sort(np.random.default_rng([settings.seed, 13]).choice(rows, settings.sample, replace=False))
    items = []
    for i in rows:
        png = png_bytes(images[i])
        question = settings.question.replace("{caption}", captions[i].replace('"', "'"))
        items.append(Item(ids[i], caption_key(image_hash(png), question, gemini.model, gemini.generation()), png,
                          text=question))  # fmt: skip
    cost = estimate_cost([it.text or "" for it in items], gemini)
    print(f"caption judge for {prompt!r}: {len(items)} requests, estimated cost ${cost if cost is not None else '?'}")
    if cost is not None and settings.max_cost_usd is not None and cost > settings.max_cost_usd:
        raise MorphalignError(
            f"the caption judge for {prompt!r} would cost about ${cost:.2f} ({len(items)} requests), above "
            f"caption_audit.judge.max_cost_usd (${settings.max_cost_usd:.2f}); raise it, or judge a sample "
            "(caption_audit.judge.sample)"
        )
    report_dir = Path(report_dir)
    store = CaptionStore(Path(cache_dir) / f"{prompt}.judge.jsonl")
    records, failures = ask_all(
        items, f"{prompt}-judge", settings.question, gemini, key, store,
        report_dir / f"{prompt}.judge_audit.json", report_dir / f"{prompt}.judge_failures.csv",
    )  # fmt: skip
    verdicts = [parse_verdict(records[it.key]["caption"]) if it.key in records else None for it in items]
    ok = [v for v in verdicts if v is not None]
    summary: dict[str, Any] = {
        "judged": len(items),
        "estimated_cost_usd": cost,
        "errors": len(items) - len(ok),
        "failed_requests": len(failures),
        "verdicts": {v: sum(x["verdict"] == v for x in ok) for v in VERDICTS},
    }
    for claim in CLAIMS:
        said = [x[claim] for x in ok if x[claim] is not None]
        summary[f"{claim}_agree_share"] = float(np.mean(said)) if said else None
    summary["unfaithful_examples"] = [
        {"id": it.id, "caption": captions[i], "verdict": v}
        for it, i, v in zip(items, rows, verdicts, strict=True)
        if v is not None and v["verdict"] == "unfaithful"
    ][:5]
    return summary
