"""Benchmark: captioning throughput against the fake Gemini server, concurrent versus one request at a time.

    python benchmarks/gemini_concurrency.py [--images 300] [--prompts 2] [--latency 0.5] [--concurrency 16]

Each request takes `--latency` seconds on the server (a stand-in for the real API's response time). The real
google-genai client is used; captions go through the cache, so each run starts from an empty cache. Prints the wall
time of both runs and their ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.captions.backends import Prompt
from morphalign.captions.gemini.backend import GeminiBackend
from morphalign.gemini.client import GeminiSettings
from morphalign.testing.fake_gemini import FakeGemini


def run(srv: FakeGemini, images: np.ndarray, n_prompts: int, concurrency: int, folder: Path) -> float:
    manifest = pd.DataFrame({"id": [f"img{i:04d}" for i in range(len(images))]})
    settings = GeminiSettings(base_url=srv.url, concurrency=concurrency, timeout_s=30)
    backend = GeminiBackend(settings, folder / "cache", folder / "reports")
    t0 = time.perf_counter()
    for p in range(n_prompts):
        backend.caption(images, manifest, Prompt(f"prompt{p}", f"Prompt number {p}.", "gemini"))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    images = np.random.default_rng(0).integers(0, 256, size=(args.images, 150, 150), dtype=np.uint8)
    with FakeGemini(latency_s=args.latency) as srv, tempfile.TemporaryDirectory() as tmp:
        os.environ["GEMINI_API_KEY"] = srv.api_key
        fast = run(srv, images, args.prompts, args.concurrency, Path(tmp) / "concurrent")
        print(
            f"{args.images} x {args.prompts} captions, {args.concurrency} in flight: {fast:.1f} s "
            f"(max in flight at the server: {srv.max_in_flight})"
        )
        slow = run(srv, images, args.prompts, 1, Path(tmp) / "sequential")
        print(f"{args.images} x {args.prompts} captions, 1 in flight: {slow:.1f} s")
        print(f"speed-up: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
