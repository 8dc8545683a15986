"""Running caption requests: cache first, then concurrent requests with retries, or the Batch API.

- Cache: every finished caption is in the prompt's JSONL store (`morphalign.captions.store`); only missing keys are
  requested, so a rerun after a kill (SIGKILL, a SLURM time limit) sends requests only for what is missing.
- Online mode: `client.aio` with at most `concurrency` requests in flight and an optional client-side
  requests-per-minute limit. 429, 5xx, timeouts and dropped connections are retried with exponential backoff and
  jitter, waiting at least as long as a `Retry-After` header asks. Bad responses (empty, blocked, truncated,
  over the word limit) are retried too; after `max_attempts` the image is reported failed with its reason.
  Retries live here rather than in the SDK's `HttpRetryOptions`, which ignores `Retry-After` and cannot retry a
  response that arrived but is unusable.
- Batch mode: missing requests go to `client.batches` in chunks at the lower batch price, each job named
  `morphalign-<prompt>-<hash of its requests>`; the job name is saved before polling, so a rerun resumes polling the
  same job instead of paying again. A job that ends FAILED, CANCELLED or EXPIRED stops the stage at once with an
  error naming the job, its state and its message: the next run resubmits it (or `batch_resubmit` times in this run).
  An item's own error inside a finished job keeps its code and message, and is retried in a later job.
- Audit: requests sent, cache hits, retries, failures, tokens from the usage metadata, and the estimated cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from morphalign.captions.gemini.client import GeminiSettings, Outcome, classify, generate_config, redact, request_parts
from morphalign.captions.gemini.store import CaptionStore
from morphalign.errors import MorphalignError
from morphalign.io import atomic_path

FATAL_CODES = {400, 401, 403, 404}  # a bad key, model or request: retrying cannot help
BATCH_DISCOUNT = 0.5  # the Batch API bills half the interactive price


@dataclass
class Item:
    """One caption to obtain."""

    id: str
    key: str
    png: bytes


@dataclass
class Failure:
    id: str
    reason: str
    finish_reason: str | None
    attempts: int
    last_error: str | None = None
    partial: str | None = None
    batch_job: str | None = None
    batch_state: str | None = None


class BatchJobEnded(MorphalignError):
    """A batch job ended FAILED, CANCELLED or EXPIRED; `failures` are the items it held."""

    def __init__(self, message: str, failures: list[Failure]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class Audit:
    """What one run of the stage did and cost."""

    prompt: str
    model: str
    mode: str
    images: int = 0
    cached: int = 0
    requests: int = 0
    retries: int = 0
    completed: int = 0
    failures: int = 0
    reasons: Counter = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    batch_jobs: list[dict[str, Any]] = field(default_factory=list)  # name, display name, final state, error
    seconds: float = 0.0

    def add_usage(self, outcome: Outcome) -> None:
        self.input_tokens += outcome.input_tokens
        self.output_tokens += outcome.output_tokens

    def report(self, prices: dict[str, dict[str, float]]) -> dict[str, Any]:
        price = prices.get(self.model)
        cost = None
        if price is not None:
            cost = (
                self.input_tokens * price.get("input_per_million", 0.0)
                + self.output_tokens * price.get("output_per_million", 0.0)
            ) / 1e6
            if self.mode == "batch":
                cost *= price.get("batch_discount", BATCH_DISCOUNT)
        return {
            "prompt": self.prompt,
            "model": self.model,
            "mode": self.mode,
            "images": self.images,
            "cached_hits": self.cached,
            "requests_sent": self.requests,
            "retries": self.retries,
            "completed": self.completed,
            "failures": self.failures,
            "failure_reasons": dict(self.reasons),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "estimated_cost_usd": None if cost is None else round(cost, 6),
            "price_per_million": price,
            "batch_jobs": self.batch_jobs,
            "seconds": round(self.seconds, 3),
        }


def _record(item: Item, prompt: str, model: str, outcome: Outcome, attempts: int, **extra: Any) -> dict[str, Any]:
    """The store line of one finished caption (no secrets: the key never leaves the client)."""
    return {
        "key": item.key,
        "id": item.id,
        "prompt": prompt,
        "caption": outcome.caption,
        "model": model,
        "finish_reason": outcome.finish_reason,
        "attempts": attempts,
        "input_tokens": outcome.input_tokens,
        "output_tokens": outcome.output_tokens,
        **extra,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


class TransientError(Exception):
    """A request that may succeed when sent again."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimiter:
    """Spaces request starts at least 60 / rpm seconds apart (rpm <= 0: no limit)."""

    def __init__(self, rpm: float) -> None:
        self.interval = 60.0 / rpm if rpm and rpm > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


def backoff_delay(attempt: int, settings: GeminiSettings, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff with jitter, never shorter than the server's Retry-After."""
    delay = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (attempt - 1)) * rng.uniform(0.5, 1.0)
    return max(delay, retry_after or 0.0)


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


TRANSPORT_LIBRARIES = {"httpx", "httpx2", "httpcore", "aiohttp", "h11", "anyio"}


def is_transient(exc: BaseException) -> bool:
    """Timeouts, dropped connections and other transport failures, whichever HTTP library the SDK uses."""
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError, OSError)):
        return True
    return any(type(c).__module__.split(".")[0] in TRANSPORT_LIBRARIES for c in (exc, exc.__cause__) if c)


async def request_caption(client, item: Item, prompt_text: str, settings: GeminiSettings) -> Outcome:
    """One request; transport trouble and retryable HTTP errors raise TransientError."""
    from google.genai import errors

    try:
        response = await asyncio.wait_for(
            client.aio.models.generate_content(
                model=settings.model, contents=request_parts(item.png, prompt_text), config=generate_config(settings)
            ),
            timeout=settings.timeout_s,
        )
    except errors.APIError as exc:
        message = redact(f"HTTP {exc.code} {exc.status or ''} {exc.message or ''}".strip())
        if exc.code in FATAL_CODES:
            raise MorphalignError(
                f"Gemini refused the request ({message}); check the key, model and endpoint"
            ) from None
        raise TransientError(message, _retry_after(exc)) from None
    except Exception as exc:
        if not is_transient(exc):
            raise
        raise TransientError(redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)) from None
    return classify(response, settings.max_words)


async def _online(
    items: list[Item],
    client,
    prompt_text: str,
    settings: GeminiSettings,
    store: CaptionStore,
    audit: Audit,
    prompt: str,
    model: str,
    seed: int,
) -> list[Failure]:
    from tqdm import tqdm

    sem = asyncio.Semaphore(settings.concurrency)
    limiter = RateLimiter(settings.requests_per_minute)
    rng = random.Random(seed)
    failures: list[Failure] = []
    bar = tqdm(total=len(items), desc=f"gemini:{prompt}", unit="caption", file=sys.stderr, mininterval=5, smoothing=0.1)

    async def one(item: Item) -> None:
        last_error: str | None = None
        last: Outcome | None = None
        for attempt in range(1, settings.max_attempts + 1):
            retry_after = None
            await limiter.acquire()
            async with sem:
                audit.requests += 1
                try:
                    outcome = await request_caption(client, item, prompt_text, settings)
                except TransientError as exc:
                    outcome, last_error, retry_after = None, str(exc), exc.retry_after
            if outcome is not None:
                audit.add_usage(outcome)
                if outcome.ok:
                    store.append(_record(item, prompt, model, outcome, attempt))
                    audit.completed += 1
                    bar.update(1)
                    return
                last, last_error = outcome, f"bad response: {outcome.reason} (finish reason {outcome.finish_reason})"
            if attempt < settings.max_attempts:
                audit.retries += 1
                await asyncio.sleep(backoff_delay(attempt, settings, retry_after, rng))
        reason = last.reason if last is not None and last_error and last_error.startswith("bad") else "transport"
        failures.append(
            Failure(
                item.id,
                reason,
                last.finish_reason if last else None,
                settings.max_attempts,
                last_error,
                last.partial if last else None,
            )
        )
        audit.failures += 1
        audit.reasons[reason] += 1
        bar.update(1)

    try:
        await asyncio.gather(*(one(it) for it in items))
    finally:
        bar.close()
    return failures


def run_online(
    items: list[Item],
    client,
    prompt_text: str,
    settings: GeminiSettings,
    store: CaptionStore,
    audit: Audit,
    prompt: str,
    seed: int = 0,
) -> list[Failure]:
    """Request every item concurrently; return the ones that failed after all attempts."""
    return asyncio.run(_online(items, client, prompt_text, settings, store, audit, prompt, settings.model, seed))


# ---------------------------------------------------------------- Batch API


def _batch_requests(items: list[Item], prompt_text: str, settings: GeminiSettings) -> list:
    from google.genai import types

    config = generate_config(settings)
    return [
        types.InlinedRequest(
            contents=[
                types.Content(
                    role="user",
                    parts=[types.Part.from_bytes(data=it.png, mime_type="image/png"), types.Part(text=prompt_text)],
                )
            ],
            metadata={"key": it.key},
            config=config,
        )
        for it in items
    ]


TERMINAL_OK = {"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
TERMINAL_BAD = {"JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


def display_name(prompt: str, keys: list[str]) -> str:
    """The job's name in the console: the prompt and a short hash of the requests it holds."""
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:10]
    return f"morphalign-{prompt}-{digest}"


def _job_error(client, job) -> str | None:
    """The error a finished job carries, as 'code: message'.

    The SDK fills `job.error` on Vertex AI but drops the operation's `error` on the Developer API (google-genai 3.6),
    so there it is read from the raw operation through the client's own HTTP layer.
    """
    err = getattr(job, "error", None)
    if err is None and not getattr(client, "vertexai", False):
        with contextlib.suppress(Exception):  # best effort: the state alone still names what happened
            raw = client._api_client.request("get", job.name, {}, None)
            err = (json.loads(raw.body) if raw.body else {}).get("error")
    if err is None:
        return None
    code = err.get("code") if isinstance(err, dict) else getattr(err, "code", None)
    message = err.get("message") if isinstance(err, dict) else getattr(err, "message", None)
    return redact(f"{code}: {message}" if code is not None else str(message))


def _ended_message(prompt: str, entry: dict[str, Any], n: int) -> str:
    what = {"JOB_STATE_EXPIRED": "expired", "JOB_STATE_FAILED": "failed", "JOB_STATE_CANCELLED": "was cancelled"}
    error = f" with error {entry['error']}" if entry["error"] else " (the API gave no error message)"
    return (
        f"batch job {entry['name']} ({entry['display_name']}) for prompt {prompt!r} {what[entry['state']]} "
        f"[{entry['state']}]{error}; none of its {n} captions were kept. Rerun to submit them again (captions "
        "already stored are not requested again), set captioning.mode: online to request them one by one, or set "
        "captioning.batch_resubmit to resubmit such jobs automatically."
    )


def _submit(client, chunk: list[Item], prompt: str, prompt_text: str, settings: GeminiSettings, state_path: Path):
    from google.genai import errors

    keys = [it.key for it in chunk]
    label = display_name(prompt, keys)
    try:
        job = client.batches.create(
            model=settings.model,
            src=_batch_requests(chunk, prompt_text, settings),
            config={"display_name": label},
        )
    except errors.APIError as exc:
        raise MorphalignError(redact(f"Batch API refused the job: HTTP {exc.code} {exc.message}")) from None
    state = {"prompt": prompt, "job": job.name, "display_name": label, "keys": keys}
    with atomic_path(state_path) as tmp:
        tmp.write_text(json.dumps(state))
    return state


def _item_outcome(resp, max_words: int) -> tuple[Outcome, str | None]:
    """A batch item's outcome, and its own error ('code: message') if it has one instead of a response."""
    err = getattr(resp, "error", None)
    if err is not None:
        code, message = getattr(err, "code", None), getattr(err, "message", None)
        return Outcome(False, reason="request_error"), redact(f"{code}: {message}")
    if resp.response is None:
        return Outcome(False, reason="empty"), None
    return classify(resp.response, max_words), None


def run_batch(
    items: list[Item],
    client,
    prompt_text: str,
    settings: GeminiSettings,
    store: CaptionStore,
    audit: Audit,
    prompt: str,
    state_path: str | Path,
    sleep=time.sleep,
) -> list[Failure]:
    """Submit missing items as Batch API jobs (resuming a saved job), poll, collect; retry failed items in new jobs.

    Raises `BatchJobEnded` when a job ends FAILED, CANCELLED or EXPIRED more than `batch_resubmit` times.
    """
    state_path = Path(state_path)
    by_key = {it.key: it for it in items}
    attempts: Counter = Counter()
    last: dict[str, tuple[Outcome, str | None, dict[str, Any]]] = {}
    pending = dict(by_key)
    ended = 0
    while pending:
        state = json.loads(state_path.read_text()) if state_path.is_file() else None
        if state is None or state.get("prompt") != prompt:
            chunk = [pending[k] for k in list(pending)[: settings.batch_chunk]]
            state = _submit(client, chunk, prompt, prompt_text, settings, state_path)
            audit.requests += len(chunk)
        entry = {"name": state["job"], "display_name": state.get("display_name"), "state": None, "error": None}
        audit.batch_jobs.append(entry)
        while True:
            job = client.batches.get(name=state["job"])
            name = _state_name(job.state)
            if name in TERMINAL_OK or name in TERMINAL_BAD:
                break
            sleep(settings.batch_poll_s)
        entry["state"] = name
        if name in TERMINAL_BAD:
            state_path.unlink(missing_ok=True)  # the next run submits these items in a new job
            entry["error"] = _job_error(client, job)
            ended += 1
            held = [k for k in state["keys"] if k in pending]
            if ended > settings.batch_resubmit:
                failures = [
                    Failure(
                        pending[k].id,
                        f"batch_{name.removeprefix('JOB_STATE_').lower()}",
                        None,
                        attempts[k],
                        entry["error"],
                        None,
                        entry["name"],
                        name,
                    )
                    for k in held
                ]
                audit.failures += len(failures)
                audit.reasons[failures[0].reason if failures else name] += len(failures)
                raise BatchJobEnded(redact(_ended_message(prompt, entry, len(held))), failures)
            audit.retries += len(held)
            continue  # resubmitted, as `batch_resubmit` allows
        seen = set()
        for resp in (job.dest.inlined_responses or []) if job.dest else []:
            key = (resp.metadata or {}).get("key")
            if key not in pending:
                continue
            seen.add(key)
            attempts[key] += 1
            outcome, error = _item_outcome(resp, settings.max_words)
            audit.add_usage(outcome)
            if outcome.ok:
                it = pending.pop(key)
                store.append(_record(it, prompt, settings.model, outcome, attempts[key], batch_job=state["job"]))
                audit.completed += 1
            else:
                last[key] = (outcome, error, entry)
        for key in state["keys"]:
            if key in pending and key not in seen:
                attempts[key] += 1  # the job returned nothing for it
                last[key] = (Outcome(False, reason="missing_from_batch"), None, entry)
        state_path.unlink(missing_ok=True)  # collected: the next submission is a new job
        for key in [k for k in pending if attempts[k] >= settings.max_attempts]:
            pending.pop(key)
        audit.retries += sum(1 for k in pending if attempts[k] > 0)
    failures = []
    stored = store.load()  # read once: this loop runs over every item
    for key, it in by_key.items():
        if attempts[key] >= settings.max_attempts and key not in stored:
            out, error, where = last[key]
            failures.append(
                Failure(
                    it.id,
                    out.reason or "failed",
                    out.finish_reason,
                    attempts[key],
                    error,
                    out.partial,
                    where["name"],
                    where["state"],
                )
            )
            audit.failures += 1
            audit.reasons[out.reason or "failed"] += 1
    return failures


def _state_name(state: Any) -> str:
    return str(getattr(state, "name", state))
