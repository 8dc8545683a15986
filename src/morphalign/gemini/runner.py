"""Running caption requests: cache first, then concurrent requests with retries, or the Batch API.

- Cache: every finished caption is in the prompt's JSONL store (`morphalign.captions.store`); only missing keys are
  requested, so a rerun after a kill (SIGKILL, a SLURM time limit) sends requests only for what is missing.
- Endpoint check: before any request, one TCP (and TLS) connection to the endpoint within `connect_timeout_s`. A
  closed port, a failed DNS lookup, a TLS failure or silence stops the stage at once, naming the endpoint.
- Online mode: `client.aio` with at most `concurrency` requests in flight and an optional client-side
  requests-per-minute limit.
  - Quota: a 429 or RESOURCE_EXHAUSTED pauses the whole client (every slot, and the rate limiter) for the wait the
    server asked for (`Retry-After`, or `RetryInfo.retryDelay` in the error body), with jitter, or for the backoff
    if it gave none. Quota waits do not use up attempts; each caption's retries are bounded in time by
    `max_wait_s`, and the audit counts quota waits apart from failures.
  - 5xx, timeouts and dropped connections are retried with exponential backoff and jitter, waiting at least as long
    as the server asks. Bad responses (empty, blocked, truncated, over the word limit) are retried too; after
    `max_attempts` the image is reported failed with its last attempt's reason.
  - Fail fast: `fail_fast_after` transport failures of the same kind in a row (connection refused, DNS, TLS,
    timeout), with no success between, stop the stage with a diagnosis instead of retrying every image.
  Retries live here rather than in the SDK's `HttpRetryOptions`, which ignores `Retry-After` and cannot retry a
  response that arrived but is unusable.
- Batch mode: missing requests go to `client.batches` in chunks at the lower batch price, each job named
  `morphalign-<prompt>-<hash of its requests>`; the job name is saved before polling, so a rerun resumes polling the
  same job instead of paying again. A job that ends FAILED, CANCELLED or EXPIRED stops the stage at once with an
  error naming the job, its state and its message: the next run resubmits it (or `batch_resubmit` times in this run).
  An item's own error inside a finished job keeps its code and message, and is retried in a later job.
- Audit: requests sent, cache hits, retries, quota waits, failures, tokens from the usage metadata, and the
  estimated cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import re
import socket
import ssl
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from morphalign.errors import MorphalignError
from morphalign.gemini.client import (
    GeminiSettings,
    Outcome,
    classify,
    generate_config,
    redact,
    request_contents,
    request_parts,
)
from morphalign.gemini.store import CaptionStore
from morphalign.io import atomic_path, write_json

FATAL_CODES = {400, 401, 403, 404}  # a bad key, model or request: retrying cannot help
DEFAULT_ENDPOINT = "https://generativelanguage.googleapis.com"  # the SDK's endpoint when base_url is unset
QUOTA_JITTER = (1.0, 1.25)  # a quota pause is the server's wait times this: never shorter, and not all in step
BATCH_DISCOUNT = 0.5  # the Batch API bills half the interactive price


@dataclass
class Item:
    """One answer to obtain: a caption, or a class; `examples` are (image, answer) turns sent first (k-shot)."""

    id: str
    key: str
    png: bytes
    examples: tuple[tuple[bytes, str], ...] = ()
    text: str | None = None  # this item's own prompt text (a judge's question names the caption), else the run's

    def contents(self, prompt_text: str) -> list:
        if not self.examples:
            return request_parts(self.png, self.text or prompt_text)
        return request_contents(self.png, self.text or prompt_text, self.examples)


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
    quota_waits: int = 0  # 429 / RESOURCE_EXHAUSTED answers: each paused the client, none used up an attempt
    quota_paused_s: float = 0.0  # time the client spent paused for quota
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
            "quota_waits": self.quota_waits,
            "quota_paused_s": round(self.quota_paused_s, 3),
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
    """A request that may succeed when sent again; `kind` names a transport failure (None for HTTP errors)."""

    def __init__(self, message: str, retry_after: float | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.kind = kind


class QuotaError(TransientError):
    """A 429 or RESOURCE_EXHAUSTED: the whole client pauses for `retry_after` (or the backoff)."""


class EndpointError(MorphalignError):
    """The endpoint cannot be reached, or every request to it fails the same way: stop, and say why."""


class RateLimiter:
    """Spaces request starts at least 60 / rpm seconds apart (rpm <= 0: no limit)."""

    def __init__(self, rpm: float) -> None:
        self.interval = 60.0 / rpm if rpm and rpm > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    def hold_until(self, t: float) -> None:
        """No request starts before monotonic time `t` (a quota pause)."""
        self._next = max(self._next, t)

    async def acquire(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


class Pause:
    """The client-wide quota pause: while it lasts, no slot sends anything."""

    def __init__(self) -> None:
        self.until = 0.0

    def extend(self, seconds: float) -> float:
        """Pause for at least `seconds` from now; return the added pause time."""
        start = max(self.until, time.monotonic())
        self.until = max(self.until, time.monotonic() + seconds)
        return max(0.0, self.until - start)

    async def wait(self) -> None:
        while (left := self.until - time.monotonic()) > 0:
            await asyncio.sleep(left)


def backoff_delay(attempt: int, settings: GeminiSettings, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff with jitter, never shorter than the server's Retry-After."""
    delay = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (attempt - 1)) * rng.uniform(0.5, 1.0)
    return max(delay, retry_after or 0.0)


def _seconds(duration: Any) -> float | None:
    """A protobuf Duration as JSON ("3s", "0.5s", "1.000500s") or a number, in seconds."""
    if isinstance(duration, (int, float)):
        return float(duration)
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)s\s*", str(duration or ""))
    return float(m.group(1)) if m else None


def retry_delay(body: Any) -> float | None:
    """The wait a google.rpc error body asks for: `RetryInfo.retryDelay` among its `details`."""
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for d in details if isinstance(details, list) else []:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return _seconds(d.get("retryDelay"))
    return None


def _retry_after(exc: Any) -> float | None:
    """The server's wait: the `Retry-After` header (seconds or an HTTP date), else the body's RetryInfo."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    return retry_delay(getattr(exc, "details", None))


TRANSPORT_LIBRARIES = {"httpx", "httpx2", "httpcore", "aiohttp", "h11", "anyio"}


def is_transient(exc: BaseException) -> bool:
    """Timeouts, dropped connections and other transport failures, whichever HTTP library the SDK uses."""
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError, OSError)):
        return True
    return any(type(c).__module__.split(".")[0] in TRANSPORT_LIBRARIES for c in (exc, exc.__cause__) if c)


def endpoint(settings: GeminiSettings) -> str:
    return settings.base_url or DEFAULT_ENDPOINT


def _endpoint_advice(settings: GeminiSettings) -> str:
    where = "captioning.base_url" if settings.base_url else "the default endpoint (captioning.base_url unset)"
    return (
        f"Check that {where} is right and reachable from this machine (SLURM compute nodes often have no "
        "internet: caption on a login node, or set a proxy with HTTPS_PROXY), and the timeouts "
        f"(captioning.connect_timeout_s {settings.connect_timeout_s:g} s, timeout_s {settings.timeout_s:g} s). "
        "Captions already received stay cached; a rerun asks only for the rest."
    )


async def check_endpoint(settings: GeminiSettings) -> None:
    """Open one connection to the endpoint (TLS for https) within `connect_timeout_s`, or raise EndpointError."""
    from urllib.parse import urlsplit

    url = endpoint(settings)
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host, port = parts.hostname or "", parts.port or (443 if secure else 80)
    proxied = any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))
    if proxied and secure:  # the proxy, not this machine, connects to the endpoint
        return
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ssl.create_default_context() if secure else None),
            timeout=settings.connect_timeout_s,
        )
    except socket.gaierror as exc:
        why = f"the host name {host!r} could not be resolved (DNS: {exc.strerror or exc})"
    except ConnectionRefusedError:
        why = f"connection refused at {host}:{port} (nothing listens there)"
    except TimeoutError:
        why = f"no connection to {host}:{port} within connect_timeout_s ({settings.connect_timeout_s:g} s)"
    except ssl.SSLError as exc:
        why = f"the TLS handshake with {host}:{port} failed ({exc.reason or exc})"
    except OSError as exc:
        why = f"{host}:{port} could not be reached ({exc.strerror or exc})"
    else:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return
    raise EndpointError(
        redact(f"cannot reach the Gemini endpoint {url}: {why}; no request was sent. ") + _endpoint_advice(settings)
    )


class TransportStreak:
    """Transport failures of one kind in a row, in the order requests finish.

    It stops the stage only when the endpoint looks dead: `limit` failures of the same kind in a row, and no answer
    of any kind (a caption, a bad response, an HTTP error, a quota answer) since the first of them was sent. Slow
    requests that time out together while others succeed do not count as a dead endpoint.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.kind, self.last = limit, None, ""
        self.sent: list[float] = []  # when each failure of the current run was sent
        self.answered = -math.inf  # when the server last answered anything

    @property
    def count(self) -> int:
        return len(self.sent)

    def record(self, kind: str | None, sent: float, message: str = "") -> bool:
        """Count one finished request (`kind` None: the server answered); True when the endpoint looks dead."""
        if kind is None:
            self.kind, self.sent, self.answered = None, [], time.monotonic()
            return False
        self.sent = [*self.sent, sent] if kind == self.kind else [sent]
        self.kind, self.last = kind, message
        return self.limit > 0 and self.count >= self.limit and self.answered < min(self.sent)


def _transport_kind(exc: BaseException) -> str:
    """A short name for a transport failure: 'timeout', 'connection refused', or the exception's class."""
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or "Timeout" in type(exc).__name__:
        return "timeout"
    text = f"{type(exc).__name__}: {exc} {exc.__cause__ or ''}".lower()
    for needle, kind in (
        ("refused", "connection refused"),
        ("name or service not known", "DNS"),
        ("nodename nor servname", "DNS"),
        ("temporary failure in name resolution", "DNS"),
        ("certificate", "TLS"),
        ("ssl", "TLS"),
    ):
        if needle in text:
            return kind
    return type(exc).__name__


async def request_caption(client, item: Item, prompt_text: str, settings: GeminiSettings) -> Outcome:
    """One request; quota answers raise QuotaError, other transport or retryable HTTP trouble TransientError."""
    from google.genai import errors

    try:
        response = await asyncio.wait_for(
            client.aio.models.generate_content(
                model=settings.model, contents=item.contents(prompt_text), config=generate_config(settings)
            ),
            timeout=settings.timeout_s,
        )
    except errors.APIError as exc:
        message = redact(f"HTTP {exc.code} {exc.status or ''} {exc.message or ''}".strip())
        if exc.code in FATAL_CODES:
            raise MorphalignError(
                f"Gemini refused the request ({message}); check the key, model and endpoint"
            ) from None
        quota = exc.code == 429 or exc.status == "RESOURCE_EXHAUSTED"
        raise (QuotaError if quota else TransientError)(message, _retry_after(exc)) from None
    except Exception as exc:
        if not is_transient(exc):
            raise
        text = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise TransientError(text, kind=_transport_kind(exc)) from None
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

    await check_endpoint(settings)
    sem = asyncio.Semaphore(settings.concurrency)
    limiter = RateLimiter(settings.requests_per_minute)
    pause = Pause()
    streak = TransportStreak(settings.fail_fast_after)
    rng = random.Random(seed)
    failures: list[Failure] = []
    bar = tqdm(total=len(items), desc=f"gemini:{prompt}", unit="caption", file=sys.stderr, mininterval=5, smoothing=0.1)

    def fail(item: Item, attempts: int, reason: str, error: str | None, outcome: Outcome | None) -> None:
        """Report the item failed, every field from its last attempt."""
        failures.append(
            Failure(
                item.id,
                reason,
                outcome.finish_reason if outcome else None,
                attempts,
                error,
                outcome.partial if outcome else None,
            )
        )
        audit.failures += 1
        audit.reasons[reason] += 1
        bar.update(1)

    async def one(item: Item) -> None:
        deadline = time.monotonic() + settings.max_wait_s
        attempt = quota = 0
        while True:
            await pause.wait()
            await limiter.acquire()
            async with sem:
                await pause.wait()  # a pause may have begun while this request queued for its slot
                audit.requests += 1
                sent = time.monotonic()
                outcome = error = kind = None
                retry_after = None
                try:
                    outcome = await request_caption(client, item, prompt_text, settings)
                except QuotaError as exc:
                    quota += 1
                    audit.quota_waits += 1
                    wait = (exc.retry_after or backoff_delay(quota, settings, None, rng)) * rng.uniform(*QUOTA_JITTER)
                    audit.quota_paused_s += pause.extend(wait)
                    limiter.hold_until(pause.until)
                    streak.record(None, sent)
                    if pause.until > deadline:
                        return fail(item, attempt + quota, "quota", f"{exc} (quota wait past max_wait_s)", None)
                    continue  # a quota answer uses up no attempt
                except TransientError as exc:
                    error, kind, retry_after = str(exc), exc.kind, exc.retry_after
            if streak.record(kind, sent, error or ""):
                raise EndpointError(
                    redact(
                        f"stopped after {streak.count} requests in a row to the Gemini endpoint {endpoint(settings)} "
                        f"failed the same way ({streak.kind}; last: {streak.last}). "
                    )
                    + _endpoint_advice(settings)
                )
            attempt += 1
            if outcome is not None:
                audit.add_usage(outcome)
                if outcome.ok:
                    store.append(_record(item, prompt, model, outcome, attempt + quota))
                    audit.completed += 1
                    bar.update(1)
                    return
                error = f"bad response: {outcome.reason} (finish reason {outcome.finish_reason})"
            reason = outcome.reason if outcome is not None else "transport"
            delay = backoff_delay(attempt, settings, retry_after, rng)
            if attempt >= settings.max_attempts:
                return fail(item, attempt + quota, reason, error, outcome)
            if time.monotonic() + delay > deadline:
                return fail(item, attempt + quota, reason, f"{error} (next retry past max_wait_s)", outcome)
            audit.retries += 1
            await asyncio.sleep(delay)

    tasks = [asyncio.ensure_future(one(it)) for it in items]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
            contents=request_contents(it.png, it.text or prompt_text, it.examples),
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
    asyncio.run(check_endpoint(settings))
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


# ---------------------------------------------------------------- one call for a stage


def ask_all(
    items: list[Item],
    name: str,
    prompt_text: str,
    settings: GeminiSettings,
    key: str,
    store: CaptionStore,
    audit_path: str | Path,
    failures_path: str | Path,
) -> tuple[dict[str, dict[str, Any]], list[Failure]]:
    """Ask for every item the store lacks (online or batch), write the audit and the failures report.

    Returns the stored records by key and the failures. A batch job that ended badly raises after the reports are
    written, naming them.
    """
    t0 = time.time()
    cached = store.load()
    missing = list({it.key: it for it in items if it.key not in cached}.values())  # identical requests: once
    audit = Audit(
        prompt=name,
        model=settings.model,
        mode=settings.mode,
        images=len(items),
        cached=sum(it.key in cached for it in items),
    )
    failures: list[Failure] = []
    ended: BatchJobEnded | None = None
    if missing:
        from morphalign.gemini.client import make_client

        client = make_client(settings, key)
        try:
            if settings.mode == "batch":
                state = Path(store.path).with_suffix(".batch.json")
                failures = run_batch(missing, client, prompt_text, settings, store, audit, name, state)
            else:
                failures = run_online(missing, client, prompt_text, settings, store, audit, name)
        except BatchJobEnded as exc:  # reported below, then raised: the reports say which job and why
            ended, failures = exc, exc.failures
        finally:
            store.close()
    audit.seconds = time.time() - t0
    write_json(audit_path, audit.report(settings.prices))
    failures_path = Path(failures_path)
    if failures:
        import pandas as pd

        with atomic_path(failures_path) as tmp:
            pd.DataFrame([f.__dict__ for f in failures]).to_csv(tmp, index=False)
    else:
        failures_path.unlink(missing_ok=True)
    if ended is not None:
        raise MorphalignError(f"{ended} Failures: {failures_path}; audit: {audit_path}")
    return store.load(), failures
