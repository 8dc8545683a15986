"""The gemini backend: the real google-genai client against a local fake Gemini server."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from google.genai import types

from morphalign.artifacts import write_dataset
from morphalign.captions.backends import Context, Prompt
from morphalign.captions.gemini.backend import GeminiBackend
from morphalign.captions.stage import run_captions
from morphalign.errors import MorphalignError
from morphalign.gemini import runner as gemini_runner
from morphalign.gemini.client import GeminiSettings, classify, image_hash, png_bytes
from morphalign.gemini.runner import Audit, Item, run_batch
from morphalign.gemini.store import CaptionStore, caption_key
from morphalign.testing.fake_gemini import FakeGemini, MixedFaults

FAST = {"timeout_s": 0.5, "backoff_base_s": 0.005, "backoff_max_s": 0.05, "max_attempts": 4}


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 150, 150), dtype=np.uint8)


def _manifest(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"img{i:04d}" for i in range(n)],
            "label": np.arange(n) % 2,
            "label_name": "x",
            "split": ["train"] * (n - n // 4) + ["test"] * (n // 4),
        }
    )


@pytest.fixture
def server(fake_gemini):
    return fake_gemini


def _backend(srv, tmp_path, **kw) -> GeminiBackend:
    settings = GeminiSettings(base_url=srv.url, **{**FAST, **kw})
    return GeminiBackend(settings, tmp_path / "cache", tmp_path / "reports")


def _response(**kw) -> types.GenerateContentResponse:
    return types.GenerateContentResponse.model_validate(kw)


# ---------------------------------------------------------------- classification


def test_classify_bad_responses():
    usage = {"prompt_token_count": 7, "candidates_token_count": 3}
    ok = classify(
        _response(
            candidates=[{"content": {"parts": [{"text": " two lobes "}]}, "finish_reason": "STOP"}],
            usage_metadata=usage,
        ),
        50,
    )
    assert ok.ok and ok.caption == "two lobes" and ok.input_tokens == 7 and ok.output_tokens == 3
    assert classify(_response(candidates=[]), 50).reason == "empty"
    assert classify(_response(candidates=[{"content": {"parts": [{"text": " "}]}}]), 50).reason == "empty"
    blocked = classify(_response(candidates=[{"finish_reason": "SAFETY"}]), 50)
    assert (blocked.reason, blocked.finish_reason) == ("blocked", "SAFETY")
    fb = classify(_response(prompt_feedback={"block_reason": "PROHIBITED_CONTENT"}), 50)
    assert fb.reason == "blocked"
    cut = classify(_response(candidates=[{"content": {"parts": [{"text": "a b"}]}, "finish_reason": "MAX_TOKENS"}]), 50)
    assert (cut.reason, cut.partial) == ("truncated", "a b")
    long = classify(_response(candidates=[{"content": {"parts": [{"text": "w " * 51}]}, "finish_reason": "STOP"}]), 50)
    assert long.reason == "over_limit" and not long.ok


# ---------------------------------------------------------------- the key


def test_missing_key_fails_before_any_request(server, tmp_path, monkeypatch):
    srv = server()
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(MorphalignError, match="set GEMINI_API_KEY"):
        _backend(srv, tmp_path)
    assert srv.requests == [] and not (tmp_path / "cache").exists()


def test_wrong_key_is_fatal_and_not_echoed(server, tmp_path, monkeypatch):
    srv = server()
    monkeypatch.setenv("GEMINI_API_KEY", "wrong-secret-key-42")
    backend = _backend(srv, tmp_path)
    with pytest.raises(MorphalignError) as info:
        backend.caption(_images(2), _manifest(2), Prompt("p", "Describe.", "gemini"))
    assert "HTTP 403" in str(info.value) and "wrong-secret-key-42" not in str(info.value)


# ---------------------------------------------------------------- the done-when scenarios


def _no_request_after_success(srv) -> None:
    for pair, modes in srv.modes_by_pair().items():
        if "ok" in modes:
            assert modes.index("ok") == len(modes) - 1, (pair, modes)


def test_300_images_2_prompts_30_percent_faults(server, tmp_path):
    # a slow answer (3 s) outlasts the 1.5 s timeout; an ok one has 1.5 s, enough on a loaded machine (tests run in
    # parallel): an ok answer the client timed out on would be asked again, and look like a request after success
    srv = server(plan=MixedFaults(rate=0.3, seed=3, recover_after=2, permanent=0.02), slow_s=3.0)
    images, man = _images(300), _manifest(300)
    results = {}
    for name in ("control", "curated"):
        backend = _backend(srv, tmp_path, concurrency=16, timeout_s=1.5)
        prompt = Prompt(name, f"The {name} prompt.", "gemini")
        with pytest.raises(MorphalignError, match=r"\d+ of 300 captions failed .*see .*failures.csv"):
            backend.caption(images, man, prompt)
        failures = pd.read_csv(tmp_path / "reports" / f"{name}.failures.csv")
        assert set(failures["reason"]) <= {"blocked", "empty", "over_limit", "truncated", "transport"}
        assert failures["reason"].notna().all() and (failures["attempts"] == 4).all()
        stored = CaptionStore(tmp_path / "cache" / f"{name}.jsonl").load()
        assert len(stored) + len(failures) == 300  # every caption completed or reported failed
        audit = json.loads((tmp_path / "reports" / f"{name}.audit.json").read_text())
        assert audit["completed"] == len(stored) and audit["failures"] == len(failures)
        assert audit["retries"] > 0.2 * 300 and audit["input_tokens"] > 0
        assert audit["estimated_cost_usd"] > 0
        results[name] = (failures, stored)
    modes = [r.mode for r in srv.requests]
    for mode in ("429", "500", "503", "slow", "drop", "empty", "safety", "max_tokens", "over_limit"):
        assert mode in modes, f"fault {mode} never injected"
    _no_request_after_success(srv)
    # a rerun requests only the failed ones, and those keep failing: nothing finished is asked again
    n_before = len(srv.requests)
    backend = _backend(srv, tmp_path, concurrency=16, timeout_s=1.5, tolerated_failure_fraction=0.1)
    table = backend.caption(images, man, Prompt("curated", "The curated prompt.", "gemini"))
    assert len(srv.requests) - n_before == 4 * len(results["curated"][0])
    failed = table[table.status != "ok"]
    assert len(failed) == len(results["curated"][0]) and (table.caption.str.strip() != "").all()
    assert failed.status.str.startswith("failed:").all()
    _no_request_after_success(srv)


def test_retry_after_is_honoured(server, tmp_path):
    srv = server(plan=lambda i, p, attempt: "429" if attempt == 1 else "ok")
    srv.retry_after_s = "0.4"
    _backend(srv, tmp_path, concurrency=4).caption(_images(4), _manifest(4), Prompt("p", "Describe.", "gemini"))
    times: dict = {}
    for r in srv.requests:
        times.setdefault(r.image_sha, []).append(r.t)
    assert all(len(t) == 2 and t[1] - t[0] >= 0.39 for t in times.values())


def test_requests_run_concurrently(server, tmp_path):
    srv = server(latency_s=0.2)
    t0 = time.time()
    _backend(srv, tmp_path, concurrency=8).caption(_images(32), _manifest(32), Prompt("p", "Describe.", "gemini"))
    assert srv.max_in_flight == 8
    assert time.time() - t0 < 32 * 0.2 / 3


def test_rate_limit(server, tmp_path):
    srv = server()
    _backend(srv, tmp_path, concurrency=8, requests_per_minute=600).caption(
        _images(6), _manifest(6), Prompt("p", "Describe.", "gemini")
    )
    t = sorted(r.t for r in srv.requests)
    # 600 per minute: starts 0.1 s apart. Arrival times also carry the client's own delays (a loaded machine,
    # the first connection), so: no burst, and the whole run spread as the limit asks
    assert min(b - a for a, b in itertools.pairwise(t)) > 0.03
    assert t[-1] - t[0] >= 0.08 * (len(t) - 1)  # without the limit: about 0.01 s in all


def test_prompt_change_invalidates_only_that_prompt(server, tmp_path):
    srv = server()
    images, man = _images(10), _manifest(10)
    for name in ("a", "b"):
        _backend(srv, tmp_path).caption(images, man, Prompt(name, f"text {name}", "gemini"))
    assert len(srv.requests) == 20
    _backend(srv, tmp_path).caption(images, man, Prompt("a", "text a", "gemini"))
    _backend(srv, tmp_path).caption(images, man, Prompt("b", "a new text for b", "gemini"))
    assert len(srv.requests) == 30
    audit_a = json.loads((tmp_path / "reports" / "a.audit.json").read_text())
    assert audit_a["cached_hits"] == 10 and audit_a["requests_sent"] == 0


# ---------------------------------------------------------------- quota, and endpoints that fail


def test_retry_delay_is_read_from_the_error_body():
    from morphalign.gemini.runner import retry_delay

    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}
    quota = {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []}
    assert retry_delay({"error": {"code": 429, "details": [quota, info]}}) == 3.0
    assert retry_delay({"error": {"details": [{**info, "retryDelay": "1.500s"}]}}) == 1.5
    assert retry_delay({"error": {"details": [quota]}}) is None
    assert retry_delay({"error": {"message": "no details"}}) is None and retry_delay(None) is None


@pytest.mark.parametrize(
    ("window", "delay", "concurrency"),
    [(2.0, "0.5s", 4), pytest.param(10.0, "3s", 8, marks=pytest.mark.slow)],  # the slow one: the numbers
)
def test_quota_storm_pauses_the_whole_client_then_every_caption_completes(server, tmp_path, window, delay, concurrency):
    srv = server()
    srv.quota_storm(window, retry_delay=delay)  # every request gets 429, the wait only in RetryInfo
    wait = float(delay.rstrip("s"))
    n = 6 * concurrency  # more images than slots: queued images must not rush in while the client is paused
    backend = _backend(srv, tmp_path, concurrency=concurrency, max_attempts=2, max_wait_s=60)
    table = backend.caption(_images(n), _manifest(n), Prompt("p", "Describe.", "gemini"))
    assert (table.status == "ok").all()  # two attempts each: quota answers used up none
    in_storm = sum(r.mode == "quota" for r in srv.requests)
    assert 0 < in_storm <= 3 * concurrency * window / wait
    starts = sorted(r.t for r in srv.requests if r.mode == "quota")
    waves = 1 + sum(b - a >= 0.9 * wait for a, b in itertools.pairwise(starts))
    assert waves <= window / wait + 1  # no request between pauses: each wave is one burst
    audit = json.loads((tmp_path / "reports" / "p.audit.json").read_text())
    assert audit["quota_waits"] == in_storm and audit["failures"] == 0
    # paused, not polling: about window - wait in all, less when a loaded machine (tests run in parallel) sends the
    # first request late into the storm or wakes the client late from a pause
    assert audit["quota_paused_s"] >= (window - wait) / 2
    assert audit["completed"] == n


def test_quota_past_the_time_budget_is_reported_as_quota(server, tmp_path):
    srv = server()
    srv.quota_storm(30.0, retry_delay="2s")
    backend = _backend(srv, tmp_path, concurrency=2, max_wait_s=1.0)
    with pytest.raises(MorphalignError, match="2 of 2 captions failed"):
        backend.caption(_images(2), _manifest(2), Prompt("p", "Describe.", "gemini"))
    failures = pd.read_csv(tmp_path / "reports" / "p.failures.csv")
    assert set(failures.reason) == {"quota"} and failures.last_error.str.contains("max_wait_s").all()
    assert len(srv.requests) == 2  # the first answer's wait was already past the budget


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_closed_port_stops_before_any_request_and_names_the_endpoint(server, tmp_path):
    srv = server()
    url = f"http://127.0.0.1:{_closed_port()}"
    settings = GeminiSettings(**{**FAST, "base_url": url, "connect_timeout_s": 2.0})
    backend = GeminiBackend(settings, tmp_path / "cache", tmp_path / "reports")
    t0 = time.monotonic()
    with pytest.raises(MorphalignError, match=rf"endpoint {url}: connection refused.*captioning.base_url") as err:
        backend.caption(_images(30), _manifest(30), Prompt("p", "Describe.", "gemini"))
    assert time.monotonic() - t0 < 2.0 and "no request was sent" in str(err.value)
    assert srv.api_key not in str(err.value)


def test_server_that_never_answers_stops_within_the_timeouts(server, tmp_path):
    srv = server()
    srv.hold_after(0)  # accepts every connection, reads the request, never answers
    backend = _backend(srv, tmp_path, concurrency=4, timeout_s=1.0, connect_timeout_s=1.0, max_attempts=5)
    t0 = time.monotonic()
    with pytest.raises(
        MorphalignError, match=rf"in a row to the Gemini endpoint {srv.url} failed the same way \(timeout"
    ):
        backend.caption(_images(300), _manifest(300), Prompt("p", "Describe.", "gemini"))
    elapsed = time.monotonic() - t0
    # a connect, two read timeouts and slack for a loaded machine (CI runs tests beside the default), not 300 x 5 x 1 s
    assert elapsed < 1.0 + 2 * 1.0 + 3.0, elapsed
    assert len(srv.requests) <= 10
    assert not (tmp_path / "reports" / "p.audit.json").exists()  # stopped with an error: nothing half-written


def test_dropped_connections_in_a_row_stop_the_stage(server, tmp_path):
    srv = server(plan=lambda i, p, attempt: "drop")
    backend = _backend(srv, tmp_path, concurrency=2, fail_fast_after=5)
    with pytest.raises(MorphalignError, match="5 requests in a row"):
        backend.caption(_images(50), _manifest(50), Prompt("p", "Describe.", "gemini"))
    assert len(srv.requests) <= 5 + 2


def test_a_failure_row_comes_from_the_last_attempt(server, tmp_path):
    srv = server(plan=lambda i, p, attempt: "max_tokens" if attempt == 1 else "drop")
    backend = _backend(srv, tmp_path, max_attempts=3)
    with pytest.raises(MorphalignError, match="1 of 1 captions failed"):
        backend.caption(_images(1), _manifest(1), Prompt("p", "Describe.", "gemini"))
    row = pd.read_csv(tmp_path / "reports" / "p.failures.csv").iloc[0]
    assert row.reason == "transport" and row.attempts == 3
    assert pd.isna(row.finish_reason) and pd.isna(row.partial)  # not the first attempt's MAX_TOKENS and text


def test_a_torn_last_line_is_cut_so_the_store_stays_valid_jsonl(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"key": "a", "caption": "one"}) + "\n" + '{"key": "b", "capt')
    store = CaptionStore(path)
    assert set(store.load()) == {"a"}
    store.append({"key": "c", "caption": "three"})
    store.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "c"]


# ---------------------------------------------------------------- kill and resume


def _stage_config(tmp_path: Path, srv: FakeGemini, cache: Path, concurrency: int = 4) -> Path:
    cfg = {
        "prompt": {"name": "curated", "text": "Describe the morphology.", "backend": "gemini"},
        "captioning": {"base_url": srv.url, "concurrency": concurrency, **FAST},
        "cache_dir": str(cache),
        "report_dir": str(tmp_path / "reports"),
    }
    path = tmp_path / f"stage-{cache.name}.json"
    path.write_text(json.dumps(cfg))
    return path


def _run_stage(dataset, config, out, env, kill_when=None):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "morphalign.captions",
            "--dataset",
            str(dataset),
            "--config",
            str(config),
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if kill_when is not None:
        deadline = time.time() + 60
        while not kill_when() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # let the client store what it already received
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    return proc


def test_kill_and_resume_gives_identical_captions(server, tmp_path):
    n = 40
    write_dataset(tmp_path / "ds", _images(n, seed=5), _manifest(n))
    plan = MixedFaults(rate=0.3, seed=9, permanent=0.0, modes=("429", "500", "503", "empty", "over_limit"))
    env = {**os.environ}

    # the uninterrupted reference
    ref_srv = server(plan=plan)
    env["GEMINI_API_KEY"] = ref_srv.api_key
    proc = _run_stage(tmp_path / "ds", _stage_config(tmp_path, ref_srv, tmp_path / "ref"), tmp_path / "ref.csv", env)
    assert proc.returncode == 0, proc.stderr.read().decode()

    srv = server(plan=plan)
    env["GEMINI_API_KEY"] = srv.api_key
    config = _stage_config(tmp_path, srv, tmp_path / "killed")
    kills = 0
    for kill_point in (5, 17, 29):
        srv.hold_after(kill_point)
        proc = _run_stage(tmp_path / "ds", config, tmp_path / "killed.csv", env, kill_when=lambda: srv.held > 0)
        assert proc.returncode == -signal.SIGKILL
        assert not (tmp_path / "killed.csv").exists()  # a killed stage leaves no table
        srv.release()
        kills += 1
    proc = _run_stage(tmp_path / "ds", config, tmp_path / "killed.csv", env)
    assert proc.returncode == 0, proc.stderr.read().decode()

    ref = pd.read_csv(tmp_path / "ref.csv")
    got = pd.read_csv(tmp_path / "killed.csv")
    assert got["caption"].tolist() == ref["caption"].tolist()
    # requests over all runs = captions + retries (injected faults, plus requests held unanswered at a kill)
    faults = sum(r.mode not in ("ok", "held") for r in srv.requests)
    held = sum(r.mode == "held" for r in srv.requests)
    assert held >= kills
    assert len(srv.requests) == n + faults + held
    _no_request_after_success(srv)


# ---------------------------------------------------------------- batch mode


def _items(images, prompt_text, settings):
    out = []
    for i, img in enumerate(images):
        png = png_bytes(img)
        out.append(
            Item(f"img{i}", caption_key(image_hash(png), prompt_text, settings.model, settings.generation()), png)
        )
    return out


def test_batch_mode_submits_polls_collects_and_resumes(server, tmp_path):
    from morphalign.gemini.client import make_client

    srv = server(plan=MixedFaults(rate=0.2, seed=2, permanent=0.0, modes=("empty", "over_limit")))
    settings = GeminiSettings(base_url=srv.url, mode="batch", batch_poll_s=0.01, batch_chunk=8, **FAST)
    client = make_client(settings, srv.api_key)
    items = _items(_images(20), "Describe.", settings)
    store = CaptionStore(tmp_path / "store.jsonl")
    state = tmp_path / "store.batch.json"

    # a job submitted, then the process "dies" before polling: the saved state resumes it
    first = items[:8]
    job = client.batches.create(
        model=settings.model,
        src=gemini_runner._batch_requests(first, "Describe.", settings),
    )
    state.write_text(json.dumps({"prompt": "p", "job": job.name, "keys": [it.key for it in first]}))
    n_jobs = len(srv.batches)
    audit = Audit(prompt="p", model=settings.model, mode="batch")
    failures = run_batch(items, client, "Describe.", settings, store, audit, "p", state, sleep=lambda s: None)
    assert failures == []
    assert audit.batch_jobs[0]["name"] == job.name  # polled the saved job instead of paying again
    assert len(store.load()) == 20 and not state.exists()
    assert len(srv.batches) > n_jobs  # the rest, and the retries of bad responses, went in new jobs
    report = audit.report({"gemini-2.5-flash": {"input_per_million": 1.0, "output_per_million": 1.0}})
    assert report["estimated_cost_usd"] == pytest.approx((audit.input_tokens + audit.output_tokens) / 1e6 * 0.5)


def _batch_stage(srv, tmp_path, n=6, **captioning):
    write_dataset(tmp_path / "ds", _images(n), _manifest(n))
    ctx = Context(
        captioning={"base_url": srv.url, "mode": "batch", "batch_poll_s": 0.01, **FAST, **captioning},
        cache_dir=str(tmp_path / "cache"),
        report_dir=str(tmp_path / "reports"),
    )
    out = tmp_path / "captions" / "control.csv"
    out.parent.mkdir()
    return lambda: run_captions(tmp_path / "ds", Prompt("control", "Describe.", "gemini"), out, ctx), out


@pytest.mark.parametrize(
    ("state", "error", "says"),
    [
        ("BATCH_STATE_EXPIRED", {"code": 4, "message": "batch held past 48 hours"}, "4: batch held past 48 hours"),
        ("BATCH_STATE_FAILED", None, "the API gave no error message"),
    ],
)
def test_batch_that_does_not_succeed_stops_the_stage_and_names_the_job(server, tmp_path, state, error, says):
    srv = server(batch_states=[state], batch_error=error)
    run, out = _batch_stage(srv, tmp_path)
    with pytest.raises(MorphalignError) as exc:
        run()
    msg = str(exc.value)
    short = state.removeprefix("BATCH_STATE_")
    for part in ("batches/fake1", "morphalign-control-", f"JOB_STATE_{short}", says, "'control'", "mode: online"):
        assert part in msg
    assert len(srv.batches) == 1  # stopped at once: nothing resubmitted in this run
    assert srv.batches["batches/fake1"]["display_name"].startswith("morphalign-control-")
    assert list(out.parent.iterdir()) == []  # no caption table, nothing half-written
    assert not (tmp_path / "cache" / "control.batch.json").exists()
    failures = pd.read_csv(tmp_path / "reports" / "control.failures.csv")
    assert len(failures) == 6
    assert set(failures.batch_job) == {"batches/fake1"} and set(failures.batch_state) == {f"JOB_STATE_{short}"}
    assert set(failures.reason) == {f"batch_{short.lower()}"}
    audit = json.loads((tmp_path / "reports" / "control.audit.json").read_text())
    assert audit["batch_jobs"][0]["name"] == "batches/fake1" and audit["batch_jobs"][0]["state"] == f"JOB_STATE_{short}"
    if error:
        assert failures.last_error.iloc[0] == says and audit["batch_jobs"][0]["error"] == says

    table = run()  # the next run resubmits, and the service now succeeds
    assert len(srv.batches) == 2 and (table["status"] == "ok").all() and out.exists()
    assert not (tmp_path / "reports" / "control.failures.csv").exists()


def test_batch_resubmit_setting_resubmits_in_the_same_run(server, tmp_path):
    srv = server(batch_states=["BATCH_STATE_CANCELLED"])
    run, out = _batch_stage(srv, tmp_path, batch_resubmit=1)
    table = run()
    assert len(srv.batches) == 2 and (table["status"] == "ok").all() and out.exists()
    audit = json.loads((tmp_path / "reports" / "control.audit.json").read_text())
    assert [j["state"] for j in audit["batch_jobs"]] == ["JOB_STATE_CANCELLED", "JOB_STATE_SUCCEEDED"]


def test_batch_item_error_keeps_its_code_and_message(server, tmp_path):
    bad = {}

    def plan(image_sha, prompt_sha, attempt):
        bad.setdefault(image_sha, len(bad) == 0)  # the first image's requests always fail inside the batch
        return "error" if bad[image_sha] else "ok"

    srv = server(plan=plan)
    run, out = _batch_stage(srv, tmp_path, tolerated_failure_fraction=0.2)
    table = run()
    assert out.exists()
    assert (table["status"] == "failed:request_error").sum() == 1 and (table["status"] == "ok").sum() == 5
    failures = pd.read_csv(tmp_path / "reports" / "control.failures.csv")
    row = failures.iloc[0]
    assert row.reason == "request_error" and row.last_error == "13: fake internal error"
    assert row.attempts == FAST["max_attempts"] and row.batch_state == "JOB_STATE_SUCCEEDED"
    assert row.batch_job in srv.batches


# ---------------------------------------------------------------- stage, overrides


def test_stage_with_overrides_survives_reruns(server, tmp_path):
    srv = server()
    write_dataset(tmp_path / "ds", _images(6), _manifest(6))
    overrides = tmp_path / "overrides.csv"
    pd.DataFrame(
        {"id": ["img0002"], "prompt": ["curated"], "caption": ["Two lobes, hand-checked."], "note": ["fixed position"]}
    ).to_csv(overrides, index=False)
    ctx = Context(
        captioning={"base_url": srv.url, **FAST},
        cache_dir=str(tmp_path / "cache"),
        report_dir=str(tmp_path / "reports"),
    )
    prompt = Prompt("curated", "Describe.", "gemini")
    for _ in range(2):  # a rerun keeps the override and asks for nothing
        table = run_captions(tmp_path / "ds", prompt, tmp_path / "c.csv", ctx, overrides)
    assert len(srv.requests) == 6
    row = table.set_index("id").loc["img0002"]
    assert row["caption"] == "Two lobes, hand-checked." and bool(row["edited"]) and row["note"] == "fixed position"
    assert row["original_caption"].startswith("A ") and row["status"] == "override"
    assert table["edited"].sum() == 1
    pd.DataFrame({"id": ["nope"], "prompt": ["curated"], "caption": ["x"]}).to_csv(overrides, index=False)
    with pytest.raises(MorphalignError, match=r"overrides.csv: row 2: id 'nope' is not in the dataset"):
        run_captions(tmp_path / "ds", prompt, tmp_path / "c.csv", ctx, overrides)


def test_api_version_and_generation_settings_reach_the_server(server, tmp_path):
    srv = server()
    backend = _backend(
        srv,
        tmp_path,
        api_version="v1beta",
        model="gemini-2.5-flash-preview-05-20",
        temperature=0.2,
        max_output_tokens=200,
        seed=7,
        system_instruction="Be concise.",
    )
    backend.caption(_images(2), _manifest(2), Prompt("p", "Describe.", "gemini"))
    assert srv.paths == {"/v1beta/models/gemini-2.5-flash-preview-05-20:generateContent": 2}
    assert srv.last_body["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 200, "seed": 7}
    assert srv.last_body["systemInstruction"]["parts"][0]["text"] == "Be concise."
