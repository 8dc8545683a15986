"""The `gemini` backend object: cache lookup, requests for what is missing, reports, and the failure gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.captions.backends import Context, Prompt
from morphalign.errors import MorphalignError
from morphalign.gemini.client import GeminiSettings, api_key, image_hash, png_bytes
from morphalign.gemini.runner import Item, ask_all
from morphalign.gemini.store import CaptionStore, caption_key


class GeminiBackend:
    """Captions from Gemini; see `morphalign.gemini.client` and `.runner`."""

    name = "gemini"

    def __init__(self, settings: GeminiSettings, cache_dir: str | Path, report_dir: str | Path) -> None:
        if settings.mode not in ("online", "batch"):
            raise MorphalignError(f"captioning.mode must be 'online' or 'batch', got {settings.mode!r}")
        self.key = api_key()  # a missing key stops the stage before any work
        self.settings = settings
        self.model = settings.model
        self.cache_dir, self.report_dir = Path(cache_dir), Path(report_dir)

    def report_paths(self, prompt: str) -> tuple[Path, Path]:
        return self.report_dir / f"{prompt}.audit.json", self.report_dir / f"{prompt}.failures.csv"

    def caption(self, images: np.ndarray, manifest: pd.DataFrame, prompt) -> pd.DataFrame:
        s = self.settings
        ids = manifest["id"].astype(str).tolist()
        items = []
        for i, img in zip(ids, images, strict=True):
            png = png_bytes(img)
            items.append(Item(i, caption_key(image_hash(png), prompt.text, s.model, s.generation()), png))
        store = CaptionStore(self.cache_dir / f"{prompt.name}.jsonl")
        audit_path, failures_path = self.report_paths(prompt.name)
        records, failures = ask_all(items, prompt.name, prompt.text, s, self.key, store, audit_path, failures_path)
        key_of = {it.id: it.key for it in items}
        failure_by_key = {key_of[f.id]: f for f in failures}
        n_failed = sum(it.key not in records for it in items)
        if n_failed > s.tolerated_failure_fraction * len(items):
            raise MorphalignError(
                f"{n_failed} of {len(items)} captions failed for prompt {prompt.name!r} "
                f"(tolerated: {s.tolerated_failure_fraction:.1%}); see {failures_path}. Rerun to retry only those."
            )
        rows = []
        for it in items:
            rec = records.get(it.key)
            if rec is not None:
                rows.append({"caption": rec["caption"], "status": "ok", "finish_reason": rec.get("finish_reason")})
                continue
            # a tolerated failure: never an empty caption, and flagged as what it is
            f = failure_by_key.get(it.key)
            reason = f.reason if f else "failed"
            text = " ".join((f.partial or "").split()[: s.max_words]) if f else ""
            rows.append(
                {
                    "caption": text or f"(no caption: {reason})",
                    "status": f"failed:{reason}",
                    "finish_reason": f.finish_reason if f else None,
                }
            )
        return pd.DataFrame(rows)


def make_backend(prompt: Prompt, context: Context) -> GeminiBackend:
    """The backend registered as `gemini`, with the config's `captioning` settings."""
    return GeminiBackend(GeminiSettings.from_config(context.captioning), context.cache_dir, context.report_dir)
