"""The published-caption backend against the shared copies of the study's caption files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import PAPER_CAPTIONS, SCHEMA, need_shared
from morphalign.captions.backends import Context, Prompt, make_backend
from morphalign.captions.published import FILES, locate, read_caption_file
from morphalign.config import validate_config
from morphalign.errors import MorphalignError


@pytest.fixture(scope="module")
def folder():
    return need_shared(PAPER_CAPTIONS)


def _full_manifest(folder, release="full"):
    """A manifest shaped like MiraBest full's Confident subset (729 + 104), test labels from the curated file."""
    test_labels = pd.read_csv(folder / "gemini_captions_test.csv", encoding="utf-8-sig")["true label"].to_numpy()
    labels = np.concatenate([np.arange(729) % 2, test_labels])
    split = ["train"] * 629 + ["val"] * 100 + ["test"] * 104
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(833)],
            "label": labels,
            "split": split,
            "release": release,
            "confidence": "confident",
        }
    )


@pytest.mark.parametrize("key", list(FILES))
def test_all_four_files_load(folder, key):
    spec = FILES[key]
    table = read_caption_file(locate(*key, local_dir=folder, download_dir="unused"), spec.rows)
    assert len(table) == spec.rows and table["caption"].str.len().min() > 20


def test_backend_pairs_by_position_with_edited_flags(folder):
    man = _full_manifest(folder)
    out = {}
    for name in ("curated", "control"):
        backend = make_backend(Prompt(name, "text", "published", {"local_dir": str(folder)}))
        out[name] = backend.caption(np.zeros((833, 2, 2), np.uint8), man, None)
        assert len(out[name]) == 833
    cur = out["curated"]
    assert int(cur["edited"].sum()) == 23 and not out["control"]["edited"].any()
    assert cur["edited"].iloc[:729].sum() == 0
    # position, not the off-by-one `index` column, decides: row 0 of the train file has no index
    first = pd.read_csv(folder / "gemini_captions_train.csv")["caption"].iloc[0]
    assert cur["caption"].iloc[0] == first.strip()
    test_first = pd.read_csv(folder / "gemini_test_captions_blind.csv")["caption"].iloc[0]
    assert out["control"]["caption"].iloc[729] == test_first.strip()


def test_refuses_release_f(folder):
    backend = make_backend(Prompt("curated", "t", "published", {"local_dir": str(folder)}))
    with pytest.raises(MorphalignError, match=r"release: F.*different order and train/test assignment"):
        backend.caption(None, _full_manifest(folder, release="F"), None)


def test_refuses_mismatched_labels(folder):
    man = _full_manifest(folder)
    man.loc[729, "label"] = 1 - man.loc[729, "label"]
    backend = make_backend(Prompt("curated", "t", "published", {"local_dir": str(folder)}))
    with pytest.raises(MorphalignError, match=r"gemini_captions_test.csv: row 0 is labelled"):
        backend.caption(None, man, None)


def test_config_refuses_published_with_release_f():
    cfg = {
        "dataset": {"source": "mirabest", "mirabest": {"release": "F"}},
        "prompts": {"curated": {"text": "t", "backend": "published"}},
    }
    with pytest.raises(MorphalignError, match=r"pair them only with .*release: full"):
        validate_config(cfg, SCHEMA)
    cfg["dataset"]["mirabest"]["release"] = "full"
    validate_config(cfg, SCHEMA)


def test_mirror_and_tampered_file(folder, tmp_path):
    path = locate("control", "test", None, tmp_path / "dl", mirrors=[folder])
    assert path == folder / "gemini_test_captions_blind.csv"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "gemini_test_captions_blind.csv").write_text("caption\nhello\n")
    with pytest.raises(MorphalignError, match="sha256 checksum mismatch"):
        locate("control", "test", bad, tmp_path / "dl")


def test_stage_writes_edited_column(folder, tmp_path):
    from morphalign.artifacts import write_dataset
    from morphalign.captions.stage import run_captions

    man = _full_manifest(folder)
    man["label_name"] = man["label"].map({0: "FR-I", 1: "FR-II"})
    write_dataset(tmp_path / "ds", np.zeros((833, 4, 4), np.uint8), man)
    table = run_captions(
        tmp_path / "ds", Prompt("curated", "t", "published"), tmp_path / "c.csv", Context(mirrors=(folder,))
    )
    saved = pd.read_csv(tmp_path / "c.csv")
    assert int(saved["edited"].sum()) == 23 and table["backend"].iloc[0] == "published"
