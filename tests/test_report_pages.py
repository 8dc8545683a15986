"""The HTML report's pages: tables rendered as tables, the caption gallery, retrieval examples, the paper's Table 1
beside ours (and its metric mapping), and the provenance page; each checked on inputs whose answer is known."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import REPO
from morphalign.artifacts import load_dataset, save_embeddings
from morphalign.config import validate_config
from morphalign.errors import MorphalignError
from morphalign.report.aggregate import ROWS
from morphalign.report.gallery import caption_gallery, retrieval_examples, sample_per_class
from morphalign.report.pages import png_data_uri, table_page
from morphalign.report.paper import (
    METRICS,
    PAPER_TABLE,
    blockers,
    comparison,
    load_paper_table,
    notes,
    paper_page,
)
from morphalign.report.runinfo import provenance_page

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SHARED_TABLE = REPO.parent / "shared" / "data" / "reference" / "lastufka2025_table1.csv"


def _cells(html_text: str) -> list[str]:
    found = re.findall(r"<t[dh](?:\s[^>]*)?>(.*?)</t[dh]>", html_text, flags=re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in found]


# ---- tables ----


def test_markdown_table_becomes_an_html_table_and_escapes_markup(tmp_path):
    md = tmp_path / "table1.md"
    md.write_text(
        "## Table 1\n\n| Metric | full |\n|---|---|\n| Recall@1 <script> | **0.912** [0.8, 0.9] |\n\nA note.\n"
    )
    table_page(md, tmp_path / "out" / "table1.html", "Table 1")
    page = (tmp_path / "out" / "table1.html").read_text()
    assert page.startswith("<!doctype html>") and "<table>" in page
    assert "<strong>0.912</strong>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert _cells(page)[:2] == ["Metric", "full"]


def test_csv_table_page_right_aligns_numbers_and_blanks_missing(tmp_path):
    csv = tmp_path / "stats.csv"
    pd.DataFrame({"prompt": ["a", "b"], "f1": [0.5, np.nan]}).to_csv(csv, index=False)
    table_page(csv, tmp_path / "p.html", "Stats")
    page = (tmp_path / "p.html").read_text()
    assert '<td class="num">0.5</td>' in page and '<td class="num"></td>' in page


def test_table_page_errors_name_the_file(tmp_path):
    with pytest.raises(MorphalignError, match=r"nope\.md: table not found"):
        table_page(tmp_path / "nope.md", tmp_path / "x.html", "x")
    bad = tmp_path / "t.json"
    bad.write_text("{}")
    with pytest.raises(MorphalignError, match=r"t\.json: a table page needs a \.md or \.csv"):
        table_page(bad, tmp_path / "x.html", "x")
    assert not (tmp_path / "x.html").exists()


def test_png_data_uri_is_a_png_of_the_image_stretched_to_its_range():
    image = np.zeros((6, 4), dtype=np.uint8)
    image[1, 2] = 40
    uri = png_data_uri(image, scale=2)
    png = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert png.size == (8, 12)
    a = np.asarray(png)
    assert a.max() == 255 and a.min() == 0 and a[2, 4] == 255
    png_data_uri(np.full((3, 3), 7, dtype=np.uint8))  # a blank image does not divide by zero


# ---- caption gallery ----


def _captions(dataset, path, prompt, edited=(), failed=()):
    manifest = load_dataset(dataset).manifest
    table = pd.DataFrame(
        {"id": manifest["id"], "prompt": prompt, "caption": [f"{prompt} says {i}" for i in manifest["id"]]}
    )
    table["edited"] = table["id"].isin(edited)
    table["status"] = np.where(table["id"].isin(failed), "failed: SAFETY", "ok")
    table["original_caption"] = np.where(table["edited"], "the generated one", "")
    table.to_csv(path, index=False)
    return path


def test_sample_per_class_is_seeded_and_balanced():
    labels = np.array([0] * 10 + [1] * 3)
    a = sample_per_class(labels, 4, seed=1)
    assert list(labels[a]) == [0, 0, 0, 0, 1, 1, 1]
    assert np.array_equal(a, sample_per_class(labels, 4, seed=1))
    assert not np.array_equal(a, sample_per_class(labels, 4, seed=2))


def test_caption_gallery_shows_each_prompts_caption_and_flags(small_dataset, tmp_path):
    data = load_dataset(small_dataset)
    test = data.split_index("test")
    ids = data.manifest["id"].to_numpy()[test]
    a = _captions(small_dataset, tmp_path / "a.csv", "curated", edited=ids, failed=ids[:0])
    b = _captions(small_dataset, tmp_path / "b.csv", "control", failed=ids)
    out = tmp_path / "gallery.html"
    caption_gallery(small_dataset, {"curated": a, "control": b}, {"curated": "Be an expert."}, out, 2, seed=0)
    page = out.read_text()
    shown = re.findall(r"<figcaption>([^<]+)</figcaption>", page)
    labels = data.manifest.set_index("id").loc[shown, "label"]
    assert list(labels) == [0, 0, 1, 1] and set(shown) <= set(ids)
    for image_id in shown:
        assert f"curated says {image_id}" in page and f"control says {image_id}" in page
    assert page.count('class="flag">edited by hand') == 4 and page.count('class="flag failed">failed<') == 4
    assert "generated: the generated one" in page and "Be an expert." in page
    assert page.count("data:image/png;base64,") == 4
    assert f"{len(test)} edited, 0 failed of {len(data.manifest)}" in page


# ---- retrieval examples ----


def _embeddings(path, test_image, test_text, ids, labels):
    n = len(ids)
    save_embeddings(
        path, train_image=test_image[:2], train_text=test_text[:2], test_image=test_image, test_text=test_text,
        train_label=labels[:2], test_label=labels, train_id=ids[:2], test_id=ids[:n],
    )  # fmt: skip
    return path


def test_retrieval_examples_rank_the_true_image_and_summarise(small_dataset, tmp_path):
    data = load_dataset(small_dataset)
    test = data.split_index("test")
    ids = data.manifest["id"].to_numpy()[test].astype(str)
    labels = data.manifest["label"].to_numpy()[test]
    rng = np.random.default_rng(0)
    image = rng.normal(size=(len(ids), 8))
    after = _embeddings(tmp_path / "after.npz", image, image + 0.01 * rng.normal(size=image.shape), ids, labels)
    before = _embeddings(tmp_path / "before.npz", image, rng.normal(size=image.shape), ids, labels)
    caps = _captions(small_dataset, tmp_path / "c.csv", "curated")
    out = tmp_path / "r.html"
    retrieval_examples(after, before, small_dataset, caps, out, "Retrieval: curated, full", per_class=1, seed=0, k=3)
    page = out.read_text()
    rows = [c for c in _cells(page)[:12]]
    assert rows[4:8] == ["frozen", rows[5], rows[6], rows[7]] and rows[8:12][0] == "after LoRA"
    assert rows[9] == "1.000" and rows[10] == "1.000" and rows[11] == "1"  # perfectly aligned after
    assert page.count("after LoRA: true image at rank 1 of") == 2
    assert page.count("frozen: true image at rank") == 2
    assert page.count('<figure class="true">') >= 2 + 2  # the true image, and its hit after LoRA
    # without a frozen run the page shows the tuned run alone
    retrieval_examples(after, None, small_dataset, caps, out, "t", per_class=1, seed=0, k=3)
    assert "frozen" not in out.read_text()


def test_retrieval_examples_refuse_runs_of_other_test_rows(small_dataset, tmp_path):
    data = load_dataset(small_dataset)
    test = data.split_index("test")
    ids = data.manifest["id"].to_numpy()[test].astype(str)
    labels = data.manifest["label"].to_numpy()[test]
    x = np.ones((len(ids), 4))
    after = _embeddings(tmp_path / "after.npz", x, x, ids, labels)
    before = _embeddings(tmp_path / "before.npz", x, x, ids[::-1].copy(), labels)
    caps = _captions(small_dataset, tmp_path / "c.csv", "curated")
    with pytest.raises(MorphalignError, match=r"before\.npz: test rows differ from .*after\.npz"):
        retrieval_examples(after, before, small_dataset, caps, tmp_path / "r.html", "t", 1, 0)
    assert not (tmp_path / "r.html").exists()


# ---- beside the paper ----


def test_the_packaged_paper_table_is_the_shared_transcription():
    if SHARED_TABLE.exists():
        assert PAPER_TABLE.read_bytes() == SHARED_TABLE.read_bytes()


def test_every_paper_metric_maps_onto_a_table1_metric_of_ours():
    table = load_paper_table()
    ours = {key for key, _ in ROWS}
    assert set(table["metric"]) == set(METRICS)
    assert set(METRICS.values()) <= ours and len(set(METRICS.values())) == len(METRICS)
    assert len(table) == 4 * len(METRICS) and not table.duplicated(["key", "target"]).any()
    # the names say the same thing: the modality and the metric family agree
    for paper_name, key in METRICS.items():
        modality = {"images": "image", "text": "text", "concatenated": "concat"}
        for word, suffix in modality.items():
            if paper_name.endswith(word):
                assert key.endswith(suffix), (paper_name, key)
        assert ("probe" in paper_name.lower()) == ("probe" in key)
        assert ("knn" in paper_name.lower()) == key.startswith("knn")
    assert table.set_index(["key", "target"]).loc[("recall_at_5", "text"), "curated"] == 0.23


def test_an_unknown_paper_metric_is_named(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("metric,target,curated,curated_minus_control,bold\nFlux F1,frozen,0.5,,0\n")
    with pytest.raises(MorphalignError, match=r"t\.csv: row 2: metric 'Flux F1' maps onto no metric"):
        load_paper_table(bad)


def _setting(config_file: str) -> dict:
    cfg = validate_config(yaml.safe_load((REPO / "config" / config_file).read_text()), SCHEMA)
    main, ref = cfg["report"]["main_prompt"], cfg["report"]["reference_prompt"]
    return {
        "model": cfg["model"]["name_or_path"], "dataset": cfg["dataset"], "main_name": main,
        "main": cfg["prompts"][main], "reference_name": ref, "reference": cfg["prompts"].get(ref),
        "f1_average": cfg["evaluate"]["f1_average"],
        "training": {"lora.r": cfg["lora"]["r"], "lora.alpha": cfg["lora"]["alpha"], "train.lr": cfg["train"]["lr"]},
    }  # fmt: skip


def test_the_default_is_not_the_papers_setting_and_says_why():
    why = blockers(_setting("config.yaml"))
    assert any("`tiny`" in w for w in why) and any("`synthetic`" in w for w in why)
    assert any("not a vision-language model" in w for w in why)


def test_the_paper_preset_is_the_papers_setting():
    setting = _setting("paper.yaml")
    assert blockers(setting) == []
    assert not any("lr" in n or "reference prompt" in n for n in notes(setting))
    changed = {
        **setting,
        "dataset": {**setting["dataset"], "mirabest": {**setting["dataset"]["mirabest"], "release": "F"}},
    }
    assert blockers(changed) == ["MiraBest release `F`, not the first release (`full`) the paper used"]


def _table1(value: float, diff: float) -> pd.DataFrame:
    rows = []
    for key in METRICS.values():
        for target in ("frozen", "vision", "text", "full"):
            rows.append({"kind": "cell", "metric": key, "prompt": "curated", "target": target, "mean": value,
                         "ci_low": value - 0.05, "ci_high": value + 0.05, "n_seeds": 3})  # fmt: skip
            rows.append({"kind": "difference", "metric": key, "prompt": "curated", "target": target,
                         "versus_prompt": "control", "versus_target": target, "mean": diff})  # fmt: skip
    return pd.DataFrame(rows)


def test_comparison_sets_ours_beside_the_papers():
    frame = comparison(_table1(0.9, 0.02), load_paper_table(), "curated", "control")
    row = frame[(frame.metric == "Top-5 Recall") & (frame.target == "text")].iloc[0]
    assert row["paper"] == 0.23 and row["ours"] == 0.9 and row["ours_minus_paper"] == pytest.approx(0.67)
    assert not row["within"] and row["paper_minus_control"] == pytest.approx(0.04) and row["ours_minus_control"] == 0.02
    probe = frame[(frame.metric == "Linear probe F1, images") & (frame.target == "frozen")].iloc[0]
    assert probe["within"]  # 0.90 inside [0.85, 0.95]


def test_paper_page_side_by_side_or_the_reasons(tmp_path):
    table1 = tmp_path / "table1.csv"
    _table1(0.9, 0.02).to_csv(table1, index=False)
    out = tmp_path / "paper.html"
    paper_page(table1, out, _setting("paper.yaml"))
    page = out.read_text()
    assert "Not compared" not in page and "ours_minus_paper" in page and "0.670" in page
    assert "binary F1" in page  # our macro F1 is noted
    paper_page(table1, out, _setting("config.yaml"))
    page = out.read_text()
    assert "Not compared" in page and "<code>tiny</code>" in page and "ours_minus_paper" not in page
    assert "Class-level Recall@1" in page  # the paper's values, alone


# ---- provenance ----


def test_provenance_page_gathers_runs_versions_costs_and_config(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "sk-secret-never-shown")
    metrics = []
    for i, (target, seed, torch_version) in enumerate(
        [("frozen", None, "2.13"), ("text", 0, "2.13"), ("text", 1, "2.12")]
    ):
        m = {"prompt": "curated", "target": target, "seed": seed, "device": "cuda:0" if seed is not None else "cpu",
             "epochs_trained": 4, "best_val_loss": 0.5, "train_wall_time_s": 1800.0 if seed is not None else 0.0,
             "versions": {"morphalign": "0.1.0", "torch": torch_version}}  # fmt: skip
        metrics.append(tmp_path / f"m{i}.json")
        metrics[-1].write_text(json.dumps(m))
    reports = tmp_path / "reports"
    reports.mkdir()
    audit = reports / "curated.audit_captions.json"
    audit.write_text(json.dumps({"prompt": "curated", "captions": 833, "backend": ["gemini"],
                                 "model": ["gemini-2.5-flash"], "status": {"edited": 23, "failed": 1}}))  # fmt: skip
    (reports / "curated.audit.json").write_text(json.dumps({"prompt": "curated", "model": "gemini-2.5-flash",
        "mode": "batch", "images": 833, "requests_sent": 833, "input_tokens": 10, "output_tokens": 5,
        "estimated_cost_usd": 0.42}))  # fmt: skip
    runs = tmp_path / "runs.csv"
    pd.DataFrame({"metric": ["a", "b"] * 3, "source": [str(m) for m in metrics for _ in (0, 1)]}).to_csv(runs)
    out = tmp_path / "prov.html"
    provenance_page(runs, [audit], [reports], {"model": {"name_or_path": "tiny"}, "seeds": 2}, out)
    page = out.read_text()
    assert "2 different sets of library versions" in page
    assert "2 trained runs, 1.00 hours of training in all" in page and "cuda:0" in page
    assert "estimated $0.42 in all" in page and "curated.audit.json" in page
    assert "name_or_path: tiny" in page and "gemini-2.5-flash" in page
    assert "sk-secret-never-shown" not in page
    cells = _cells(page)
    assert "23" in cells and "1" in cells
