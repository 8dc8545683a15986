"""The figures of issue 11: Figure 1 as the paper defines it, and t-SNE with one panel per modality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from morphalign.artifacts import save_embeddings
from morphalign.report import figures


def _embeddings(path, image, text, labels):
    n = len(labels)
    save_embeddings(
        path, train_image=image, train_text=text, test_image=image, test_text=text, train_label=labels,
        test_label=labels, train_id=np.arange(n).astype(str), test_id=np.arange(n).astype(str),
    )  # fmt: skip
    return path


def test_figure1_compares_frozen_against_fine_tuned_both_ways_over_seeds(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 2
    base = {p: (rng.normal(size=(30, 8)), rng.normal(size=(30, 8))) for p in ("curated", "control")}
    frozen = {p: _embeddings(tmp_path / f"{p}-frozen.npz", *base[p], labels) for p in base}
    trained = {}
    for p, other in (("curated", "control"), ("control", "curated")):
        for s in range(2):
            # tuned curated text = frozen control text (cosine 1); tuned control text unrelated to frozen curated
            text = base[other][1] if p == "curated" else rng.normal(size=(30, 8))
            trained.setdefault((p, "text"), []).append(
                _embeddings(tmp_path / f"{p}-text-{s}.npz", base[p][0], text, labels)
            )
    summary = figures.figure1(frozen, trained, "curated", "control", tmp_path / "f.png", tmp_path / "f.csv")
    table = pd.read_csv(tmp_path / "f.csv")
    assert len(table) == 2 * 2 * 2  # two directions x two modalities x two seeds
    anchored = table[table.comparison == "text: frozen control vs tuned curated"]
    assert np.allclose(anchored["median"], 1.0) and (anchored["images"] == 30).all()
    reverse = table[table.comparison == "text: frozen curated vs tuned control"]
    assert (reverse["median"].abs() < 0.5).all()
    assert set(summary.seed_index) == {0, 1} and (tmp_path / "f.png").stat().st_size > 10_000


@pytest.mark.parametrize("link_pairs", [False, True])
def test_tsne_has_a_panel_per_modality_and_states_its_settings(tmp_path, link_pairs, monkeypatch):
    rng = np.random.default_rng(1)
    labels = np.arange(24) % 2
    emb = {
        (p, t): _embeddings(tmp_path / f"{p}-{t}.npz", rng.normal(size=(24, 6)), rng.normal(size=(24, 6)), labels)
        for p in ("control", "curated")
        for t in ("frozen", "full")
    }
    seen = {}
    real_save = figures._save

    def keep(fig, out):
        seen["titles"] = [ax.get_title() for ax in fig.axes if ax.get_visible()]
        seen["suptitle"] = fig._suptitle.get_text()
        real_save(fig, out)

    monkeypatch.setattr(figures, "_save", keep)
    figures.tsne_grid(emb, tmp_path / "t.png", perplexity=5, seed=3, run_seed=1, link_pairs=link_pairs)
    per_run = 3 if link_pairs else 2
    assert len(seen["titles"]) == 2 * 2 * per_run  # targets x prompts x panels
    assert "curated / full: images" in seen["titles"] and "curated / full: captions" in seen["titles"]
    assert ("curated / full: pairs" in seen["titles"]) == link_pairs
    assert "perplexity 5" in seen["suptitle"] and "t-SNE seed 3" in seen["suptitle"]
    assert "training seed 1" in seen["suptitle"]
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_the_controls_figure_draws_every_tuned_caption_set_against_both_frozen_ones(tmp_path):
    from morphalign.report.figures import control_pairs

    pairs = control_pairs("curated", "control", ["curated_shuffled"])
    assert pairs == [
        ("curated", "control"),
        ("curated_shuffled", "control"),
        ("curated", "curated"),
        ("curated_shuffled", "curated"),
    ]
    rng = np.random.default_rng(0)

    def emb(name):
        path = tmp_path / f"{name}.npz"
        a = {f"test_{k}": rng.normal(size=(10, 4)).astype(np.float32) for k in ("image", "text")}
        np.savez(path, **a)
        return path

    frozen = {"curated": emb("fc"), "control": emb("fk")}
    trained = {("curated", "text"): [emb("c0"), emb("c1")], ("curated_shuffled", "text"): [emb("s0")]}
    summary = figures.figure1(
        frozen, trained, "curated", "control", tmp_path / "f.png", tmp_path / "f.csv", pairs=pairs, title="controls"
    )
    assert (tmp_path / "f.png").stat().st_size > 0
    comparisons = set(summary.comparison)
    assert "text: frozen control vs tuned curated_shuffled" in comparisons
    assert "image: frozen curated vs tuned curated" in comparisons
    assert len(summary) == (2 + 1) * 2 * 2  # (2 curated seeds + 1 control seed) x 2 frozen sets x 2 modalities


def test_the_controls_figure_leaves_out_what_is_identical_by_construction(tmp_path):
    """A text run's image embeddings are the frozen ones (cosine 1 everywhere), and a target the controls did not
    train is not drawn."""
    rng = np.random.default_rng(1)
    frozen_image = rng.normal(size=(10, 4)).astype(np.float32)

    def emb(name, image=None):
        path = tmp_path / f"{name}.npz"
        np.savez(path, test_image=frozen_image if image is None else image, test_text=rng.normal(size=(10, 4)))
        return path

    frozen = {"curated": emb("fc"), "control": emb("fk")}
    trained = {
        ("curated", "text"): [emb("t0")],
        ("curated_shuffled", "text"): [emb("s0")],
        ("curated", "full"): [emb("f0", rng.normal(size=(10, 4)))],
    }
    pairs = figures.control_pairs("curated", "control", ["curated_shuffled"])
    kw = {"pairs": pairs, "only_changed": True}
    summary = figures.figure1(frozen, trained, "curated", "control", tmp_path / "f.png", tmp_path / "f.csv", **kw)
    assert set(summary.target) == {"text"}  # full: the control has no full run
    assert all(c.startswith("text:") for c in summary.comparison)  # image cosines are all 1: left out
    assert len(summary) == 4
