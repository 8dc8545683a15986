"""The classify stage: Gemini asked for the class, zero-shot and k-shot, against the local fake Gemini server."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from morphalign.artifacts import write_dataset
from morphalign.classify.vlm import ClassifySettings, answer_table, draw_examples, parse_answer, run_classify
from morphalign.errors import MorphalignError
from morphalign.gemini.client import GeminiSettings, image_hash, png_bytes
from morphalign.report.vlm import classify_table

FAST = {"timeout_s": 2.0, "backoff_base_s": 0.005, "backoff_max_s": 0.05, "max_attempts": 3}
N_TRAIN, N_TEST = 30, 24


def test_answers_are_parsed_strictly():
    table = answer_table(("FR-I", "FR-II"), {"FR-II": ["FRII", "FR 2"]})
    for text, want in [
        ("FR-II", 1),
        ("  fr-ii. ", 1),
        ("**FR-I**", 0),
        ('"FR-I"', 0),
        ("FRII", 1),
        ("FR 2", 1),
        ("FR-II, because the lobes are edge-brightened.", None),
        ("Probably FR-I", None),
        ("FR-I or FR-II", None),
        ("", None),
        (None, None),
    ]:
        assert parse_answer(text, table) == want, text


def test_k_shot_examples_are_balanced_seeded_and_from_the_pool():
    labels = np.array([0] * 10 + [1] * 4 + [0, 1] * 3)
    pool = np.arange(14)  # the last six rows are test rows
    four = draw_examples(labels, pool, 4, seed=0)
    assert sorted(labels[four].tolist()) == [0, 0, 1, 1] and set(four) <= set(pool)
    assert np.array_equal(four, draw_examples(labels, pool, 4, seed=0))
    assert not np.array_equal(four, draw_examples(labels, pool, 4, seed=1))
    assert len(draw_examples(labels, pool, 0, seed=0)) == 0
    with pytest.raises(MorphalignError, match="need 5 examples of class 1; the pool has 4"):
        draw_examples(labels, pool, 10, seed=0)


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    n = N_TRAIN + N_TEST
    labels = rng.permutation(np.arange(n) % 2)
    manifest = pd.DataFrame(
        {
            "id": [f"g{i:03d}" for i in range(n)],
            "label": labels,
            "label_name": np.where(labels == 0, "FR-I", "FR-II"),
            "split": ["train"] * N_TRAIN + ["test"] * N_TEST,
        }
    )
    images = rng.integers(0, 256, size=(n, 150, 150), dtype=np.uint8)
    write_dataset(tmp_path / "ds", images, manifest)
    return tmp_path / "ds", images, labels


@pytest.fixture
def server(fake_gemini):
    return fake_gemini


def _answers(images, labels, malformed: set[int], wrong: set[int]):
    """The fake model's answer per image: right, wrong, or not an answer at all."""
    by_sha = {}
    for i, (img, y) in enumerate(zip(images, labels, strict=True)):
        text = ("FR-I", "FR-II")[1 - y if i in wrong else y]
        by_sha[image_hash(png_bytes(img))] = "It looks like an FR-II source, I think." if i in malformed else text
    return lambda image_sha, prompt_sha, attempt: by_sha[image_sha]


def _section(**runs) -> dict:
    return {"runs": runs, "aliases": {"FR-II": ["FRII"]}}


def test_zero_and_k_shot_against_the_fake_server_count_malformed_answers_as_errors(server, dataset, tmp_path):
    folder, images, labels = dataset
    test_rows = set(range(N_TRAIN, N_TRAIN + N_TEST))
    malformed, wrong = {N_TRAIN + 1, N_TRAIN + 5, N_TRAIN + 9}, {N_TRAIN + 2, N_TRAIN + 3}
    srv = server(answer=_answers(images, labels, malformed, wrong))
    gemini = GeminiSettings(base_url=srv.url, concurrency=4, **FAST)
    section = _section(zero_shot={"shots": 0}, four_shot={"shots": 4})
    out = {}
    for name in ("zero_shot", "four_shot"):
        settings = ClassifySettings.from_config(name, section)
        out[name] = run_classify(folder, settings, gemini, tmp_path / "cache", tmp_path / name)
        predictions = pd.read_csv(tmp_path / name / "predictions.csv", keep_default_na=False)
        assert len(predictions) == N_TEST  # never skipped
        bad = predictions[predictions.status == "unparsable"]
        assert sorted(bad.id) == sorted(f"g{i:03d}" for i in malformed)
        assert (bad.predicted == -1).all() and bad.answer.str.contains("I think").all()
        m = out[name]
        assert (m["n"], m["errors"], m["unparsable"], m["failed"]) == (N_TEST, 3, 3, 0)
        assert m["accuracy"] == pytest.approx((N_TEST - 3 - 2) / N_TEST)
        assert json.loads((tmp_path / name / "metrics.json").read_text()) == m
        audit = json.loads((tmp_path / name / "audit.json").read_text())
        assert audit["completed"] == N_TEST and audit["requests_sent"] == N_TEST
    # zero-shot: one user turn; four-shot: four (image, prompt) / answer pairs first, then the image asked about
    turns = {tuple(r.turns) for r in srv.requests}
    assert turns == {("user",), ("user", "model") * 4 + ("user",)}
    examples = out["four_shot"]["examples"]
    assert len(examples) == 4 and all(int(e[1:]) < N_TRAIN for e in examples)  # from the training pool
    assert {r.image_sha for r in srv.requests} == {image_hash(png_bytes(images[i])) for i in test_rows}
    # a rerun asks nothing; a new prompt asks again
    before = len(srv.requests)
    run_classify(folder, ClassifySettings.from_config("zero_shot", section), gemini, tmp_path / "cache", tmp_path / "z")
    assert len(srv.requests) == before
    reworded = _section(zero_shot={"shots": 0, "prompt": "FR-I or FR-II? One word."})
    run_classify(
        folder, ClassifySettings.from_config("zero_shot", reworded), gemini, tmp_path / "cache", tmp_path / "z"
    )
    assert len(srv.requests) == before + N_TEST


def test_failed_requests_stop_the_stage_unless_tolerated(server, dataset, tmp_path):
    folder, images, labels = dataset
    srv = server(plan=lambda i, p, attempt: "empty", answer=_answers(images, labels, set(), set()))
    gemini = GeminiSettings(base_url=srv.url, **FAST)
    settings = ClassifySettings.from_config("zero_shot", _section(zero_shot={"shots": 0}))
    with pytest.raises(MorphalignError, match=f"{N_TEST} of {N_TEST} classify requests failed"):
        run_classify(folder, settings, gemini, tmp_path / "cache", tmp_path / "out")
    assert not (tmp_path / "out" / "metrics.json").exists()
    assert len(pd.read_csv(tmp_path / "out" / "failures.csv")) == N_TEST


def test_settings_errors_name_the_key():
    with pytest.raises(MorphalignError, match=r"classify.runs has no run 'x'"):
        ClassifySettings.from_config("x", {"runs": {"a": {}}})
    with pytest.raises(MorphalignError, match=r"classify.runs.a: unknown key\(s\) \['shot'\]"):
        ClassifySettings.from_config("a", {"runs": {"a": {"shot": 1}}})
    with pytest.raises(MorphalignError, match=r"classify.aliases: \['FR-III'\] are not labels"):
        ClassifySettings.from_config("a", {"runs": {"a": {}}, "aliases": {"FR-III": ["x"]}})


def test_the_table_puts_the_vlm_beside_the_siglip_probes_with_intervals(tmp_path):
    labels = np.array([0, 1] * 20)
    predicted = labels.copy()
    predicted[:4] = -1  # four errors
    pd.DataFrame({"id": range(40), "label": labels, "predicted": predicted}).to_csv(tmp_path / "p.csv", index=False)
    metrics = {"name": "zero_shot", "model": "gemini-2.5-flash", "shots": 0}
    (tmp_path / "m.json").write_text(json.dumps(metrics))
    runs = pd.DataFrame(
        [
            {"prompt": "curated", "target": t, "seed": s, "metric": f"linear_probe_f1_{f}", "value": v}
            for t, s, v in (("frozen", None, 0.70), ("full", 0, 0.74), ("full", 1, 0.76))
            for f in ("image", "text")
        ]
    )
    runs.to_csv(tmp_path / "runs.csv", index=False)
    unc = {"resamples": 500, "seed": 1, "confidence": 0.95}
    table = classify_table(
        [tmp_path / "m.json"], [tmp_path / "p.csv"], tmp_path / "runs.csv", "curated", unc, tmp_path / "t.csv",
        tmp_path / "t.md",
    )  # fmt: skip
    acc = table[(table.run == "zero_shot") & (table.metric == "accuracy")].iloc[0]
    assert acc.value == pytest.approx(36 / 40) and acc.low < acc.value < acc.high and acc.errors == 4
    macro = table[(table.run == "zero_shot") & (table.metric == "macro_f1")].iloc[0]
    assert macro.value == pytest.approx(2 * 18 / (2 * 18 + 2))  # each class: 18 found, 2 missed, none wrongly
    full = table[table.method.str.startswith("SigLIP full, linear probe on image")].iloc[0]
    assert full.value == pytest.approx(0.75)
    md = (tmp_path / "t.md").read_text()
    assert "| gemini-2.5-flash, 0-shot | 0.900 [" in md and "4 of 40 |" in md
    assert "| SigLIP frozen, linear probe on image (curated) | – | 0.700 | – | – |" in md
