"""The `gemini` caption backend: Google Gemini through the official `google-genai` SDK.

- The API key comes from `GEMINI_API_KEY` or `GOOGLE_API_KEY`, never from config; it is never written to a log, a
  result or an error message (`redact()` scrubs it from any text that leaves this module).
- `captioning.base_url` overrides the endpoint (`types.HttpOptions(base_url=...)`): tests and private gateways.
- Each image goes as PNG bytes (`types.Part.from_bytes`) followed by the prompt text; the system instruction,
  temperature, max output tokens and seed come from config when set.
- Responses are classified: a caption, or a bad response (`empty`, `blocked` by safety, `truncated` at max tokens,
  `over_limit` in words) recorded with its finish reason and retried up to `max_attempts`.

The concurrency, retries, cache and Batch API live in `morphalign.captions.runner`.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from morphalign.errors import MorphalignError

KEY_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
BLOCK_REASONS = {
    "SAFETY",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "RECITATION",
    "IMAGE_RECITATION",
}


# USD per million tokens (Google's published Gemini API prices, 2025); the config's `captioning.prices` overrides
DEFAULT_PRICES = {
    "gemini-2.5-flash": {"input_per_million": 0.30, "output_per_million": 2.50, "batch_discount": 0.5},
    "gemini-2.5-flash-lite": {"input_per_million": 0.10, "output_per_million": 0.40, "batch_discount": 0.5},
}


@dataclass(frozen=True)
class GeminiSettings:
    """The `captioning` section of the config."""

    model: str = "gemini-2.5-flash"
    base_url: str | None = None
    api_version: str | None = None
    system_instruction: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    seed: int | None = None
    max_words: int = 50  # both of the paper's prompts ask for 50 words or less
    concurrency: int = 8
    requests_per_minute: float = 0.0  # 0 = no client-side limit
    max_attempts: int = 5
    max_wait_s: float = 600.0  # per caption: rides out several per-minute quota windows, then reports it failed
    timeout_s: float = 60.0  # read timeout of one request
    connect_timeout_s: float = 10.0  # the endpoint check: an unreachable endpoint fails in seconds, not hours
    fail_fast_after: int = 5  # transport failures of one kind in a row that stop the stage (0: never)
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    mode: str = "online"
    batch_poll_s: float = 30.0
    batch_chunk: int = 1000
    batch_resubmit: int = 0  # jobs that end FAILED/CANCELLED/EXPIRED are resubmitted only on the next run
    tolerated_failure_fraction: float = 0.0
    prices: dict[str, dict[str, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> GeminiSettings:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in section.items() if k in known})

    def generation(self) -> dict[str, Any]:
        """The settings that change a caption (part of the cache key)."""
        return {
            "system_instruction": self.system_instruction,
            "temperature": self.temperature,
            "max_output_tokens": self.max_output_tokens,
            "seed": self.seed,
        }

    def public(self) -> dict[str, Any]:
        return asdict(self)


def api_key() -> str:
    """The key from the environment, or a clear error before any work starts."""
    for name in KEY_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    raise MorphalignError(
        "the gemini caption backend needs an API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment; "
        "keys are never read from config files"
    )


def redact(text: str) -> str:
    """Remove any API key in the environment from `text`."""
    for name in KEY_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            text = text.replace(value, "***")
    return text


def make_client(settings: GeminiSettings, key: str):
    from google import genai
    from google.genai import types

    http = types.HttpOptions(
        base_url=settings.base_url, api_version=settings.api_version, timeout=int(settings.timeout_s * 1000)
    )
    return genai.Client(api_key=key, http_options=http)


def png_bytes(image: np.ndarray) -> bytes:
    """Losslessly encode a uint8 greyscale image as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, mode="L").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def image_hash(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()


def request_parts(png: bytes, prompt_text: str) -> list:
    from google.genai import types

    return [types.Part.from_bytes(data=png, mime_type="image/png"), prompt_text]


def request_contents(png: bytes, prompt_text: str, examples: tuple[tuple[bytes, str], ...] = ()) -> list:
    """A request's turns: per example (image, answer) a user turn (the image, the prompt) and the model's answer;
    then the image asked about, with the prompt. Without examples, the single user turn of `request_parts`."""
    from google.genai import types

    def user(image: bytes) -> types.Content:
        return types.Content(
            role="user", parts=[types.Part.from_bytes(data=image, mime_type="image/png"), types.Part(text=prompt_text)]
        )

    turns = []
    for image, answer in examples:
        turns += [user(image), types.Content(role="model", parts=[types.Part(text=answer)])]
    return [*turns, user(png)]


def generate_config(settings: GeminiSettings):
    from google.genai import types

    values = {k: v for k, v in settings.generation().items() if v is not None}
    return types.GenerateContentConfig(**values) if values else None


@dataclass
class Outcome:
    """What one response amounts to."""

    ok: bool
    caption: str | None = None
    reason: str | None = None  # empty | blocked | truncated | over_limit (bad responses)
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    partial: str | None = None  # text of a truncated or over-long response, kept for the failures report


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "name", value))


def classify(response: Any, max_words: int) -> Outcome:
    """Turn an SDK `GenerateContentResponse` into an Outcome."""
    usage = getattr(response, "usage_metadata", None)
    tokens = {
        "input_tokens": int(getattr(usage, "prompt_token_count", 0) or 0),
        "output_tokens": int(getattr(usage, "candidates_token_count", 0) or 0),
    }
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        return Outcome(False, reason="blocked", finish_reason=_name(feedback.block_reason), **tokens)
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        return Outcome(False, reason="empty", finish_reason=None, **tokens)
    cand = candidates[0]
    finish = _name(getattr(cand, "finish_reason", None))
    parts = getattr(getattr(cand, "content", None), "parts", None) or []
    text = " ".join(p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False)).strip()
    if finish in BLOCK_REASONS:
        return Outcome(False, reason="blocked", finish_reason=finish, partial=text or None, **tokens)
    if finish == "MAX_TOKENS":
        return Outcome(False, reason="truncated", finish_reason=finish, partial=text or None, **tokens)
    if not text:
        return Outcome(False, reason="empty", finish_reason=finish, **tokens)
    if len(text.split()) > max_words:
        return Outcome(False, reason="over_limit", finish_reason=finish, partial=text, **tokens)
    return Outcome(True, caption=text, finish_reason=finish, **tokens)
