"""A local fake of the Gemini REST API, for testing the real `google-genai` client against it.

It speaks the protocol the SDK uses: `POST /{v1,v1beta}/models/{model}:generateContent`,
`POST /{v1,v1beta}/models/{model}:batchGenerateContent` and `GET /{v1,v1beta}/batches/{id}`, checks the
`x-goog-api-key` header, and answers with deterministic captions (a function of the image bytes and the prompt).

With `answer(image_sha, prompt_sha, attempt) -> text`, an ok response carries that text instead of a caption
(a classifier's answer). The image and prompt of a request are those of its last turn: earlier turns are k-shot
examples, and each request's `turns` lists the roles of its turns.

Faults are injected by a `plan(image_sha, prompt_sha, attempt) -> mode`, where `attempt` counts requests for the same
(image, prompt) pair, 1-based, across the server's life. Modes: `ok`, `429` (with Retry-After), `500`, `503`, `slow`
(answers only after `slow_s`, past the client's timeout), `drop` (closes the connection without answering), `empty`
(no candidate), `safety` (finishReason SAFETY), `max_tokens` (cut at max tokens), `over_limit` (a 70-word caption),
`error` (inside a batch: the item's own error, code 13; online: a 500).

`quota_storm(seconds, retry_delay)` answers every generateContent request for the next `seconds` with a 429
RESOURCE_EXHAUSTED whose wait is given only in the body, as the real API does (`google.rpc.RetryInfo`,
`retryDelay: "3s"`), with no Retry-After header.

A batch job ends in the states of `batch_states`, one per job in creation order (then SUCCEEDED); a job that ends
FAILED, CANCELLED or EXPIRED has no responses and carries `batch_error`, if set, as the operation's error.

The server binds 127.0.0.1 on a random port and serves from a background thread; `close()` stops it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import random
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

Plan = Callable[[str, str, int], str]
FAULTS = ("429", "500", "503", "slow", "drop", "empty", "safety", "max_tokens", "over_limit")
_VOCAB = (
    "bright compact central source with two lobes extending toward the upper left and lower right "
    "ending in hotspots faint diffuse emission jets plume core unresolved point sources nearby"
)
_WORDS = _VOCAB.split()


def always_ok(image_sha: str, prompt_sha: str, attempt: int) -> str:
    return "ok"


@dataclass
class MixedFaults:
    """A share `rate` of first attempts fail in mixed ways; a failing pair recovers after `recover_after` faulty
    attempts, except a share `permanent` of pairs that keep failing with a bad response."""

    rate: float = 0.3
    seed: int = 0
    recover_after: int = 2
    permanent: float = 0.02
    modes: tuple[str, ...] = FAULTS

    def _u(self, *parts: object) -> float:
        h = hashlib.sha256("|".join(map(str, (self.seed, *parts))).encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    def __call__(self, image_sha: str, prompt_sha: str, attempt: int) -> str:
        if self._u("permanent", image_sha, prompt_sha) < self.permanent:
            return ("safety", "empty", "over_limit")[int(self._u("pm", image_sha, prompt_sha) * 3)]
        if self._u("faulty", image_sha, prompt_sha) >= self.rate or attempt > self.recover_after:
            return "ok"
        return self.modes[int(self._u("mode", image_sha, prompt_sha, attempt) * len(self.modes))]


def caption_for(image_sha: str, prompt_sha: str, words: int = 30) -> str:
    rng = random.Random(image_sha + prompt_sha)
    return "A " + " ".join(rng.choice(_WORDS) for _ in range(words - 2)) + f" {image_sha[:6]}."


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # dropped and timed-out connections are part of the tests


@dataclass
class Request:
    image_sha: str
    prompt_sha: str
    attempt: int
    mode: str
    t: float
    turns: list[str] = field(default_factory=list)  # the roles of the request's turns ("user", "model", ...)


@dataclass
class FakeGemini:
    """The server. `requests` logs every generateContent request (batch items included) in arrival order."""

    api_key: str = "fake-key-0123456789"
    plan: Plan = always_ok
    latency_s: float = 0.0
    slow_s: float = 3.0
    retry_after_s: str = "0.1"
    answer: Callable[[str, str, int], str] | None = None  # text of an ok answer; None: a caption from caption_for
    requests: list[Request] = field(default_factory=list)
    batch_states: list[str] = field(default_factory=list)  # how successive batch jobs end (then SUCCEEDED)
    batch_error: dict | None = None  # the operation's error for a job that does not succeed

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: Counter = Counter()
        self._hold = threading.Event()
        self._hold.set()  # set = requests flow; cleared = requests wait
        self._hold_after: int | None = None
        self._storm_until = 0.0
        self._storm_delay = "3s"
        self.held = 0
        self.batches: dict[str, dict] = {}
        self.batch_gets: Counter = Counter()
        self.unauthorised = 0
        self.in_flight = 0
        self.paths: Counter = Counter()
        self.last_body: dict = {}
        self.max_in_flight = 0
        self._closed = False
        handler = self._handler()
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    # -- control -------------------------------------------------------------------------------------------
    def hold_after(self, n: int | None) -> None:
        """Hold (never answer) every generateContent request after the first n."""
        self._hold_after = n

    def quota_storm(self, seconds: float, retry_delay: str = "3s") -> None:
        """Answer every request of the next `seconds` with 429 and a RetryInfo wait of `retry_delay`."""
        self._storm_delay = retry_delay
        self._storm_until = time.monotonic() + seconds

    def release(self) -> None:
        self._hold_after = None
        self._hold.set()

    def close(self) -> None:
        self._closed = True
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeGemini:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def modes_by_pair(self) -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        for r in self.requests:
            out[(r.image_sha, r.prompt_sha)].append(r.mode)
        return out

    def _next(self, image_sha: str, prompt_sha: str, turns: list[str] | None = None) -> Request:
        with self._lock:
            self._attempts[(image_sha, prompt_sha)] += 1
            attempt = self._attempts[(image_sha, prompt_sha)]
            held = self._hold_after is not None and len(self.requests) >= self._hold_after
            storm = time.monotonic() < self._storm_until
            mode = "held" if held else "quota" if storm else self.plan(image_sha, prompt_sha, attempt)
            req = Request(image_sha, prompt_sha, attempt, mode, time.monotonic(), list(turns or []))
            self.requests.append(req)
            if held:
                self.held += 1
                self._hold.clear()
        return req

    # -- responses -----------------------------------------------------------------------------------------
    @staticmethod
    def _shas(body: dict) -> tuple[str, str]:
        """The image asked about and the prompt: those of the last turn (earlier turns are k-shot examples)."""
        parts = body.get("contents", [{}])[-1].get("parts", [])
        data = next(
            (
                p.get("inlineData", p.get("inline_data", {})).get("data")
                for p in parts
                if "inlineData" in p or "inline_data" in p
            ),
            "",
        )
        text = next((p["text"] for p in parts if "text" in p), "")
        raw = base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_" if ("-" in data or "_" in data) else None)
        return hashlib.sha256(raw).hexdigest(), hashlib.sha256(text.encode()).hexdigest()

    def response_for(self, mode: str, image_sha: str, prompt_sha: str, attempt: int = 1) -> dict:
        usage = {"promptTokenCount": 270, "candidatesTokenCount": 40, "totalTokenCount": 310}
        if mode == "empty":
            return {"candidates": [], "usageMetadata": usage}
        if mode == "safety":
            return {"candidates": [{"finishReason": "SAFETY", "content": {"parts": []}}], "usageMetadata": usage}
        if self.answer is not None and mode == "ok":
            text = self.answer(image_sha, prompt_sha, attempt)
        else:
            text = caption_for(image_sha, prompt_sha, 70 if mode == "over_limit" else 30)
        finish = "STOP"
        if mode == "max_tokens":
            text, finish = " ".join(text.split()[:12]), "MAX_TOKENS"
        return {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish}],
            "usageMetadata": usage,
        }

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, obj: dict, headers: dict | None = None) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                # the client may have given up (a timeout): as a real server would, carry on
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def _error(self, code: int, status: str, headers: dict | None = None) -> None:
                self._send(code, {"error": {"code": code, "message": f"fake {status}", "status": status}}, headers)

            def _authorised(self) -> bool:
                if self.headers.get("x-goog-api-key") != server.api_key:
                    server.unauthorised += 1
                    self._error(403, "PERMISSION_DENIED")
                    return False
                return True

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n) or b"{}")
                server.paths[self.path] += 1
                server.last_body = {k: v for k, v in body.items() if k != "contents"}
                if not self._authorised():
                    return
                if re.fullmatch(r"/v1(beta)?/models/[^/:]+:generateContent", self.path):
                    return self._generate(body)
                if re.fullmatch(r"/v1(beta)?/models/[^/:]+:batchGenerateContent", self.path):
                    return self._batch_create(body)
                self._error(404, "NOT_FOUND")

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                m = re.fullmatch(r"/v1(beta)?/(batches/[^/]+)", self.path)
                if m and m.group(2) in server.batches:
                    return self._batch_get(m.group(2))
                self._error(404, "NOT_FOUND")

            def _generate(self, body: dict) -> None:
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._generate_one(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _generate_one(self, body: dict) -> None:
                image_sha, prompt_sha = server._shas(body)
                req = server._next(image_sha, prompt_sha, [c.get("role", "user") for c in body.get("contents", [])])
                if req.mode == "held":
                    while not server._hold.wait(0.1):
                        if server._closed:
                            break
                    self.close_connection = True
                    return
                if server.latency_s:
                    time.sleep(server.latency_s)
                mode = req.mode
                if mode == "429":
                    return self._error(429, "RESOURCE_EXHAUSTED", {"Retry-After": server.retry_after_s})
                if mode == "quota":  # the wait only in the body, as the real API gives it
                    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": server._storm_delay}
                    error = {"code": 429, "message": "fake quota", "status": "RESOURCE_EXHAUSTED", "details": [retry]}
                    return self._send(429, {"error": error})
                if mode in ("500", "503", "error"):
                    return self._error(503 if mode == "503" else 500, "UNAVAILABLE" if mode == "503" else "INTERNAL")
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if mode == "slow":
                    time.sleep(server.slow_s)
                self._send(200, server.response_for(mode, image_sha, prompt_sha, req.attempt))

            def _batch_create(self, body: dict) -> None:
                batch = body.get("batch", {})
                reqs = batch.get("inputConfig", {}).get("requests", {}).get("requests", [])
                name = f"batches/fake{len(server.batches) + 1}"
                end = server.batch_states.pop(0) if server.batch_states else "BATCH_STATE_SUCCEEDED"
                results = []
                for r in reqs:
                    image_sha, prompt_sha = server._shas(r.get("request", {}))
                    turns = [c.get("role", "user") for c in r.get("request", {}).get("contents", [])]
                    req = server._next(image_sha, prompt_sha, turns)
                    meta = r.get("metadata", {})
                    if req.mode == "error":
                        results.append({"error": {"code": 13, "message": "fake internal error"}, "metadata": meta})
                        continue
                    mode = req.mode if req.mode not in ("429", "500", "503", "slow", "drop", "held") else "empty"
                    response = server.response_for(mode, image_sha, prompt_sha, req.attempt)
                    results.append({"response": response, "metadata": meta})
                server.batches[name] = {"results": results, "end": end, "display_name": batch.get("displayName")}
                self._send(
                    200, {"name": name, "metadata": {"@type": "x", "name": name, "state": "BATCH_STATE_PENDING"}}
                )

            def _batch_get(self, name: str) -> None:
                server.batch_gets[name] += 1
                done = server.batch_gets[name] >= 2  # running on the first poll, done on the second
                job = server.batches[name]
                state = job["end"] if done else "BATCH_STATE_RUNNING"
                meta = {"@type": "x", "name": name, "state": state}
                if job["display_name"]:
                    meta["displayName"] = job["display_name"]
                obj = {"name": name, "metadata": meta, "done": done}
                if done and state == "BATCH_STATE_SUCCEEDED":
                    inlined = {"inlinedResponses": {"inlinedResponses": job["results"]}}
                    meta["output"] = inlined
                    obj["response"] = {"@type": "x", **inlined}
                elif done and server.batch_error:
                    obj["error"] = server.batch_error
                self._send(200, obj)

        return Handler
