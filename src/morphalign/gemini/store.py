"""An append-only JSONL store of finished captions: nothing paid for is ever lost or paid for twice.

Each finished caption is one JSON line, written, flushed and fsynced as it arrives. A job killed mid-write leaves at
most a torn last line, which `load()` ignores and the next append cuts off. Records are keyed by `caption_key()`:
the image's content hash, the prompt text's hash, the model and the generation settings, so changing any of them
asks for new captions while everything else stays cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def caption_key(image_sha256: str, prompt_text: str, model: str, generation: dict[str, Any]) -> str:
    """Cache key of one caption request."""
    blob = json.dumps(
        {
            "image": image_sha256,
            "prompt": hashlib.sha256(prompt_text.encode()).hexdigest(),
            "model": model,
            "generation": generation,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class CaptionStore:
    """Per-prompt JSONL file of finished captions."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh = None

    def load(self) -> dict[str, dict[str, Any]]:
        """All complete records by key (the last one wins); a torn final line from a kill is skipped."""
        records: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return records
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # torn write at a kill
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and "key" in rec and rec.get("caption"):
                    records[rec["key"]] = rec
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably before returning."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._repair_tail()
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across appends
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _repair_tail(self) -> None:
        """Cut a torn last line (a kill mid-write) so the file stays valid JSONL; its caption is asked for again."""
        if not self.path.is_file():
            return
        end = self.path.read_bytes().rfind(b"\n") + 1  # a few MB at most: one line per caption
        if end != self.path.stat().st_size:
            with open(self.path, "rb+") as fh:
                fh.truncate(end)
                os.fsync(fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
