"""Shuffled-caption controls: another prompt's captions, permuted over the training images only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from morphalign.captions.backends import Context, Prompt, make_backend
from morphalign.captions.shuffled import derangement, shuffle_captions
from morphalign.errors import MorphalignError


def test_a_derangement_moves_every_row():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 101):
        rows = np.arange(100, 100 + n)
        out = derangement(rows, rng)
        assert sorted(out) == sorted(rows) and not np.any(out == rows)


@pytest.mark.parametrize("mode", ["all", "within_class"])
def test_only_training_captions_move_and_within_class_keeps_the_class(mode):
    labels = np.array([0, 1] * 20)
    pool = np.arange(30)  # rows 30-39 are test rows
    captions = [f"caption of {i}" for i in range(40)]
    shuffled, source = shuffle_captions(captions, labels, pool, mode, seed=3)
    assert shuffled[30:] == captions[30:] and list(source[30:]) == list(range(30, 40))  # test captions stay
    assert not np.any(source[:30] == np.arange(30))  # no training image keeps its own caption
    assert sorted(source[:30]) == list(range(30))  # every training caption used once
    same_class = np.mean(labels[source[:30]] == labels[:30])
    assert same_class == 1.0 if mode == "within_class" else same_class < 0.8
    assert shuffle_captions(captions, labels, pool, mode, seed=3)[1].tolist() == source.tolist()  # seeded
    assert shuffle_captions(captions, labels, pool, mode, seed=4)[1].tolist() != source.tolist()


def test_the_backend_reads_the_source_table_and_records_where_each_caption_came_from(tmp_path):
    manifest = pd.DataFrame(
        {"id": [f"r{i}" for i in range(12)], "label": np.arange(12) % 2, "split": ["train"] * 8 + ["test"] * 4}
    )
    source = pd.DataFrame(
        {"id": manifest.id, "prompt": "curated", "caption": [f"about {i}" for i in manifest.id], "backend": "x",
         "model": "m", "created": "2026-11-28"}
    )  # fmt: skip
    source.to_csv(tmp_path / "curated.csv", index=False)
    options = {"source": "curated", "shuffle": "within_class", "source_csv": str(tmp_path / "curated.csv")}
    backend = make_backend(Prompt("curated_shuffled", "shuffled", "shuffled", options), Context())
    table = backend.caption(np.zeros((12, 4, 4), np.uint8), manifest, Prompt("curated_shuffled", "x", "shuffled"))
    assert (table.caption == "about " + table.caption_of).all()
    assert (table.caption_of[8:] == manifest.id[8:]).all() and (table.caption_of[:8] != manifest.id[:8]).all()
    assert backend.model == "shuffled:within_class of curated"
    with pytest.raises(MorphalignError, match="needs `shuffle`"):
        make_backend(Prompt("p", "x", "shuffled", {"source": "curated", "source_csv": "x"}), Context())
