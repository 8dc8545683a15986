"""The captioning stage: the table it writes and the errors it raises."""

from __future__ import annotations

import pandas as pd
import pytest

from morphalign.artifacts import CAPTION_COLUMNS as COLUMNS
from morphalign.artifacts import load_captions
from morphalign.captions import backends
from morphalign.captions.backends import Prompt
from morphalign.captions.stage import run_captions
from morphalign.errors import MorphalignError


def test_describer_table(small_dataset, tmp_path):
    out = tmp_path / "curated.csv"
    run_captions(small_dataset, Prompt("curated", "Describe it.", "describer", {"style": "curated"}), out)
    table = pd.read_csv(out)
    assert tuple(table.columns) == COLUMNS
    assert len(table) == 64 and table["caption"].str.len().min() > 10
    assert set(table["backend"]) == {"describer"} and set(table["prompt"]) == {"curated"}
    man = pd.read_csv(small_dataset / "manifest.csv")
    assert table["id"].tolist() == man["id"].tolist()


class _Blank:
    name, model = "blank", "blank-1"

    def caption(self, images, manifest, prompt):
        return ["fine"] * (len(manifest) - 1) + ["  "]


def make_blank(prompt, context):
    return _Blank()


def test_empty_caption_stops_the_stage(small_dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "blank", f"{__name__}:make_blank")
    out = tmp_path / "x.csv"
    with pytest.raises(MorphalignError, match=r"empty caption for id 'syn-test-00015'"):
        run_captions(small_dataset, Prompt("x", "Describe.", "blank"), out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_prompt_without_text(small_dataset, tmp_path):
    with pytest.raises(MorphalignError, match=r"prompts.x.text is empty"):
        run_captions(small_dataset, Prompt("x", "  ", "describer", {"style": "control"}), tmp_path / "x.csv")


def test_unknown_backend(small_dataset, tmp_path):
    with pytest.raises(MorphalignError, match=r"prompts.x.backend: 'nope' is not a caption backend"):
        run_captions(small_dataset, Prompt("x", "hi", "nope"), tmp_path / "x.csv")


def test_load_captions_rejects_gaps_and_blanks(tmp_path):
    path = tmp_path / "c.csv"
    pd.DataFrame(
        {"id": ["a", "b"], "prompt": "p", "caption": ["one", ""], "backend": "x", "model": "m", "created": "now"}
    ).to_csv(path, index=False)
    with pytest.raises(MorphalignError, match=r"empty caption for id 'b'"):
        load_captions(path, ["a", "b"])
    pd.DataFrame(
        {"id": ["a"], "prompt": "p", "caption": ["one"], "backend": "x", "model": "m", "created": "now"}
    ).to_csv(path, index=False)
    with pytest.raises(MorphalignError, match=r"no caption for 1 image\(s\), first 'b'"):
        load_captions(path, ["a", "b"])
