"""The caption audit on caption sets built so that the answer is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from morphalign.artifacts import write_dataset
from morphalign.captions.audit import AuditSettings, audit_captions
from morphalign.errors import MorphalignError
from morphalign.report.caption_stats import audit_table
from morphalign.text import mask_words

N = 120  # 90 train, 30 test


@pytest.fixture
def dataset(tmp_path):
    labels = np.arange(N) % 2
    manifest = pd.DataFrame(
        {
            "id": [f"s{i:03d}" for i in range(N)],
            "label": labels,
            "label_name": np.where(labels == 0, "FR-I", "FR-II"),
            "split": ["train"] * 90 + ["test"] * 30,
        }
    )
    write_dataset(tmp_path / "ds", np.zeros((N, 150, 150), np.uint8), manifest)
    return tmp_path / "ds", labels


def _table(path, captions):
    ids = [f"s{i:03d}" for i in range(len(captions))]
    table = {"id": ids, "prompt": "p", "caption": captions, "backend": "x", "model": "m", "created": "2026-11-28"}
    pd.DataFrame(table).to_csv(path, index=False)
    return path


def test_leaks_are_counted_by_class_with_examples(dataset, tmp_path):
    folder, _ = dataset
    captions = [f"Source {i} with two lobes." for i in range(N)]
    captions[1] = "An FR-II radio galaxy, edge-brightened."  # label 1
    captions[3] = "A classic FRII source."  # label 1
    captions[4] = "Fanaroff-Riley type I, core brightened."  # label 0
    report = audit_captions(folder, _table(tmp_path / "c.csv", captions), "p", AuditSettings(), tmp_path / "a.json")
    leaks = {t["term"]: t for t in report["leaks"]}
    assert leaks[r"\bFR[- ]?(II|2)\b"]["captions"] == 2
    assert leaks[r"\bFR[- ]?(II|2)\b"]["by_class"] == {"FR-II": 2}
    assert leaks[r"\bFR[- ]?(I|1)\b"]["captions"] == 0  # "FR-II" is not an FR-I mention
    assert leaks["fanaroff|riley"]["by_class"] == {"FR-I": 1}
    assert leaks[r"\btype[- ](I|II|1|2)\b"]["captions"] == 1
    assert leaks[r"edge[- ]bright\w*"]["examples"][0] == {
        "id": "s001",
        "label": 1,
        "match": "edge-brightened",
        "caption": captions[1],
    }
    assert leaks[r"core[- ]bright\w*"]["captions"] == 1
    assert report["captions_with_any_leak"] == 3
    assert json.loads((tmp_path / "a.json").read_text()) == report


def test_caption_only_classifiers_see_the_words_and_masking_removes_them(dataset, tmp_path):
    folder, labels = dataset
    rng = np.random.default_rng(0)
    filler = ["faint", "noisy", "field", "image", "shows", "emission", "small", "large"]
    captions = [" ".join([("jets fading" if y == 0 else "lobes hotspots"), *rng.choice(filler, 4)]) for y in labels]
    report = audit_captions(folder, _table(tmp_path / "c.csv", captions), "p", AuditSettings(), tmp_path / "a.json")
    c = report["classifier"]
    assert c["bag_of_words_f1"] == 1.0  # the morphology words give the class
    assert c["bag_of_words_f1_masked"] < 0.75  # without them only noise is left
    assert c["majority_f1"] == pytest.approx(1 / 3)  # 15 / 15 on test: the majority guess scores 0.5 x 2/3
    assert (c["train"], c["test"]) == (90, 30)


def test_duplicates_are_grouped_largest_first(dataset, tmp_path):
    folder, _ = dataset
    captions = [f"unique caption {i}" for i in range(N)]
    for i in (0, 2, 4, 6):
        captions[i] = "A bright spot."
    for i in (1, 3):
        captions[i] = "Two lobes."
    report = audit_captions(folder, _table(tmp_path / "c.csv", captions), "p", AuditSettings(), tmp_path / "a.json")
    d = report["duplicates"]
    assert d["distinct"] == N - 4 and d["distinct_share"] == pytest.approx((N - 4) / N)
    assert [g["count"] for g in d["largest_groups"]] == [4, 2]
    assert d["largest_groups"][0]["by_class"] == {"FR-I": 4}
    assert d["largest_groups"][0]["ids"] == ["s000", "s002", "s004"]  # `examples` of them
    table = audit_table([tmp_path / "a.json"], tmp_path / "t.csv")
    assert table.loc[0, "largest_duplicate_group"] == 4 and table.loc[0, "captions_with_any_leak"] == 0


def test_mask_words_drops_listed_words_and_compounds():
    assert mask_words(["Two lobes, edge-brightened; a jet."], ["lobes", "edge", "jet"]) == ["two a"]


def test_bad_settings_name_the_key():
    with pytest.raises(MorphalignError, match=r"caption_audit: unknown key\(s\) \['leak_term'\]"):
        AuditSettings.from_config({"leak_term": ["x"]})
    settings = AuditSettings.from_config({"leak_terms": ["fr(", "ok"]})
    with pytest.raises(MorphalignError, match=r"caption_audit.leak_terms: 'fr\(' is not a valid regular expression"):
        from morphalign.captions.audit import leak_scan

        leak_scan(["a"], ["x"], np.zeros(1, int), settings)


def test_the_published_captions_are_audited_from_their_files(tmp_path):
    from conftest import PAPER_CAPTIONS, need_shared
    from morphalign.captions.audit import audit_published, main

    folder = need_shared(PAPER_CAPTIONS)
    report = audit_published("curated", folder, AuditSettings(), tmp_path / "curated.json")
    c = report["classifier"]
    assert report["captions"] == 833 and (c["train"], c["test"]) == (0, 104)  # labels: the curated test file's
    assert 0.6 < c["bag_of_words_f1"] < 0.95 and c["majority_f1"] < 0.5
    assert report["status"]["edited"] == 23  # the captions the study edited by hand
    assert report["duplicates"]["distinct_share"] == 1.0
    by_class = {t["term"]: t["by_class"] for t in report["leaks"]}
    assert all(set(v) <= {"FR-I", "FR-II", "unlabelled"} for v in by_class.values())
    assert main(["--published", "control", "--from", str(folder), "--out", str(tmp_path / "control.json")]) == 0
    assert json.loads((tmp_path / "control.json").read_text())["prompt"] == "published:control"


# ---------------------------------------------------------------- the LLM judge, against the fake Gemini server


def test_verdicts_are_parsed_strictly():
    from morphalign.captions.judge import parse_verdict

    good = {"components": True, "positions": False, "lobes_jets": None, "verdict": "partly"}
    assert parse_verdict(json.dumps(good)) == good
    assert parse_verdict("```json\n" + json.dumps(good) + "\n```") == good
    assert parse_verdict(json.dumps({**good, "verdict": "mostly"})) is None
    assert parse_verdict(json.dumps({**good, "extra": 1})) is None
    assert parse_verdict(json.dumps({**good, "components": "yes"})) is None
    assert parse_verdict("The caption is faithful.") is None and parse_verdict(None) is None


def _judge_server(monkeypatch, images, verdict_of):
    from morphalign.gemini.client import image_hash, png_bytes
    from morphalign.testing.fake_gemini import FakeGemini

    by_sha = {image_hash(png_bytes(img)): verdict_of(i) for i, img in enumerate(images)}
    srv = FakeGemini(answer=lambda image_sha, prompt_sha, attempt: by_sha[image_sha])
    monkeypatch.setenv("GEMINI_API_KEY", srv.api_key)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    return srv


def test_the_judge_asks_per_caption_counts_verdicts_and_errors(tmp_path, monkeypatch):
    from morphalign.captions.judge import JudgeSettings
    from morphalign.gemini.client import GeminiSettings

    n = 40
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 150, 150), dtype=np.uint8)
    labels = np.arange(n) % 2
    manifest = pd.DataFrame(
        {
            "id": [f"s{i:03d}" for i in range(n)],
            "label": labels,
            "label_name": "x",
            "split": ["train"] * 30 + ["test"] * 10,
        }
    )
    write_dataset(tmp_path / "ds", images, manifest)
    captions = _table(
        tmp_path / "c.csv", [f"A source at the {('left', 'right')[i % 2]}, number {i}." for i in range(n)]
    )

    def verdict_of(i: int) -> str:
        if i % 10 == 9:
            return "I think it is fine."  # not the JSON asked for: an error
        v = "unfaithful" if i % 4 == 0 else "faithful"
        return json.dumps({"components": i % 4 != 0, "positions": True, "lobes_jets": None, "verdict": v})

    srv = _judge_server(monkeypatch, images, verdict_of)
    try:
        gemini = GeminiSettings(base_url=srv.url, concurrency=4, timeout_s=2.0, backoff_base_s=0.01, max_attempts=2)
        settings = AuditSettings(judge=JudgeSettings(enabled=True))
        with_judge = (gemini, tmp_path / "cache", tmp_path / "reports")
        report = audit_captions(tmp_path / "ds", captions, "p", settings, tmp_path / "a.json", with_judge)
        j = report["judge"]
        assert (j["judged"], j["errors"], j["failed_requests"]) == (40, 4, 0)
        assert j["verdicts"] == {"faithful": 26, "partly": 0, "unfaithful": 10}  # unfaithful: i % 4 == 0
        assert j["components_agree_share"] == pytest.approx(26 / 36) and j["positions_agree_share"] == 1.0
        assert j["lobes_jets_agree_share"] is None  # no caption claimed any
        assert 0 < j["estimated_cost_usd"] < 0.05
        assert all("A source at the" in e["caption"] for e in j["unfaithful_examples"])
        assert len(srv.requests) == 40
        audit_captions(tmp_path / "ds", captions, "p", settings, tmp_path / "b.json", with_judge)
        assert len(srv.requests) == 40  # cached like captions
        sample = AuditSettings(judge=JudgeSettings(enabled=True, sample=10, max_cost_usd=1e-9))
        with pytest.raises(MorphalignError, match=r"would cost about \$0.00 \(10 requests\), above"):
            audit_captions(tmp_path / "ds", captions, "p", sample, tmp_path / "c.json", with_judge)
        assert len(srv.requests) == 40  # stopped before any request
    finally:
        srv.close()
