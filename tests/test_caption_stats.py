"""Caption statistics: the published sets' vocabularies, and the table and figure."""

from __future__ import annotations

import json

import pandas as pd

from conftest import PAPER_CAPTIONS, need_shared
from morphalign.report.caption_stats import caption_stats, vocabulary, words


def test_words():
    assert words("A bright, double-lobed FR-II source at 3 o'clock.") == [
        "a",
        "bright",
        "double",
        "lobed",
        "fr",
        "ii",
        "source",
        "at",
        "o",
        "clock",
    ]


def test_published_vocabularies_match_the_paper():
    folder = need_shared(PAPER_CAPTIONS)

    def both(train, test):
        return [*pd.read_csv(folder / train)["caption"], *pd.read_csv(folder / test)["caption"]]

    control = both("gemini_train_captions_blind.csv", "gemini_test_captions_blind.csv")
    curated = both("gemini_captions_train.csv", "gemini_captions_test.csv")
    assert vocabulary(control) == 1160 and vocabulary(curated) == 668


def test_table_and_figure(tmp_path):
    tables, stats = {}, {}
    for prompt, caps in (("a", ["one two three", "four five"]), ("b", ["six"] * 3)):
        tables[prompt] = tmp_path / f"{prompt}.csv"
        pd.DataFrame({"id": range(len(caps)), "caption": caps}).to_csv(tables[prompt], index=False)
        stats[prompt] = tmp_path / f"{prompt}.json"
        stats[prompt].write_text(
            json.dumps({"max_length": 64, "mean_tokens": 3.0, "truncated": 1, "truncated_share": 0.5})
        )
    table = caption_stats(tables, stats, tmp_path / "t.csv", tmp_path / "f.png")
    row = table.set_index("prompt").loc["a"]
    assert row["words_mean"] == 2.5 and row["vocabulary"] == 5 and row["truncated_share"] == 0.5
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
