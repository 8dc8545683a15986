"""The report's galleries: test images with every prompt's caption, and retrieval examples before and after LoRA.

- **Caption gallery**: a fixed sample of test images per class (seeded, so every report shows the same galaxies),
  each with the caption every prompt gave it. A caption edited by hand, or one whose request failed, is flagged,
  and the hand-edited caption's generated original is shown under it.
- **Retrieval examples**: for a fixed sample of test captions per class, the `k` test images the frozen model and
  a tuned run rank first for that caption (text-to-image, by cosine), with the true image outlined and its rank
  over all test images given. The page also gives Recall@1 and Top-k over every test caption, so the examples are
  read against the whole.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.artifacts import load_dataset, load_embeddings
from morphalign.errors import MorphalignError
from morphalign.report.pages import thumbnail, write_page
from morphalign.vectors import cosine_matrix


def sample_per_class(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Positions of up to `per_class` items of each class, drawn with `seed`; class by class, in position order."""
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        out.append(np.sort(rng.choice(rows, size=min(per_class, len(rows)), replace=False)))
    return np.concatenate(out) if out else np.array([], dtype=int)


def _flag_columns(table: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    edited = table["edited"] if "edited" in table else pd.Series(False, index=table.index)
    out["edited"] = edited.astype(str).str.lower().isin({"true", "1", "1.0"})
    status = table["status"].astype(str) if "status" in table else pd.Series("", index=table.index)
    out["failed"] = status.str.startswith("failed") | table["caption"].fillna("").astype(str).str.strip().eq("")
    out["original"] = table.get("original_caption")
    return out


def read_captions(path: str | Path) -> pd.DataFrame:
    """A captions table indexed by image id, with `caption`, `edited`, `failed` and `original` columns."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MorphalignError(f"{path}: not a readable captions table ({exc})") from exc
    for column in ("id", "caption"):
        if column not in table:
            raise MorphalignError(f"{path}: no {column!r} column")
    flags = _flag_columns(table)
    return pd.concat([table[["id", "caption"]], flags], axis=1).set_index("id")


def _caption_cell(row: pd.Series | None) -> str:
    if row is None:
        return '<span class="flag failed">missing</span>'
    flags = ""
    if row["failed"]:
        flags += '<span class="flag failed">failed</span>'
    if row["edited"]:
        flags += '<span class="flag">edited by hand</span>'
    text = "" if pd.isna(row["caption"]) else str(row["caption"])
    cell = flags + html.escape(text)
    original = row["original"]
    if row["edited"] and isinstance(original, str) and original.strip():
        cell += f'<br><span class="note">generated: {html.escape(original)}</span>'
    return cell


def caption_gallery(
    dataset_dir: str | Path,
    captions: dict[str, str | Path],
    prompt_texts: dict[str, str],
    out: str | Path,
    per_class: int,
    seed: int,
) -> None:
    """Write the caption gallery: `per_class` test images of each class, with each prompt's caption."""
    data = load_dataset(dataset_dir)
    test = data.split_index("test")
    tables = {name: read_captions(path) for name, path in captions.items()}
    manifest = data.manifest
    chosen = test[sample_per_class(manifest["label"].to_numpy()[test], per_class, seed)]
    parts = [
        f"<p>A fixed sample of test images (seed {seed}, {per_class} per class) with the caption each prompt gave it. "
        "Captions edited by hand or failed are flagged.</p>",
        "<table><thead><tr><th>Prompt</th><th>Its text</th><th>Flagged (whole set)</th></tr></thead><tbody>",
    ]
    for name, table in tables.items():
        counts = f"{int(table['edited'].sum())} edited, {int(table['failed'].sum())} failed of {len(table)}"
        text = html.escape(prompt_texts.get(name, ""))
        parts.append(f"<tr><td>{html.escape(name)}</td><td>{text}</td><td>{counts}</td></tr>")
    parts.append("</tbody></table>")
    labels = manifest["label"].to_numpy()
    for c in np.unique(labels[chosen]):
        rows = chosen[labels[chosen] == c]
        name = str(manifest["label_name"].iloc[rows[0]]) if "label_name" in manifest else f"class {c}"
        parts.append(f"<h2>{html.escape(name)} (class {int(c)})</h2>")
        heads = "".join(f"<th>{html.escape(p)}</th>" for p in tables)
        parts.append(f"<table><thead><tr><th>Image</th>{heads}</tr></thead><tbody>")
        for r in rows:
            image_id = str(manifest["id"].iloc[r])
            cells = "".join(
                f"<td>{_caption_cell(t.loc[image_id] if image_id in t.index else None)}</td>" for t in tables.values()
            )
            parts.append(f"<tr><td>{thumbnail(data.images[r], image_id, width=150)}</td>{cells}</tr>")
        parts.append("</tbody></table>")
    write_page(out, "Caption gallery", "\n".join(parts))


def ranking(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Test images ordered by cosine to each test caption, best first (row i: caption i's ranking)."""
    sims = cosine_matrix(arrays["test_text"], arrays["test_image"])
    return np.argsort(-sims, axis=1, kind="stable")


def _true_ranks(order: np.ndarray) -> np.ndarray:
    return np.argmax(order == np.arange(len(order))[:, None], axis=1) + 1


def retrieval_examples(
    after: str | Path,
    before: str | Path | None,
    dataset_dir: str | Path,
    captions: str | Path,
    out: str | Path,
    title: str,
    per_class: int,
    seed: int,
    k: int = 5,
) -> None:
    """Write a run's retrieval examples: its top-k test images for sampled test captions, and the frozen model's."""
    runs = {"after LoRA": load_embeddings(after)}
    if before is not None:
        runs = {"frozen": load_embeddings(before), **runs}
    ids = runs["after LoRA"]["test_id"].astype(str)
    for name, arrays in runs.items():
        if "test_id" not in arrays or not np.array_equal(arrays["test_id"].astype(str), ids):
            raise MorphalignError(f"{before if name == 'frozen' else after}: test rows differ from {after}'s")
    data = load_dataset(dataset_dir)
    position = {str(i): p for p, i in enumerate(data.manifest["id"].astype(str))}
    missing = [i for i in ids if i not in position]
    if missing:
        raise MorphalignError(f"{dataset_dir}: test id {missing[0]!r} of {after} is not in the dataset")
    text = read_captions(captions)["caption"]
    labels = runs["after LoRA"]["test_label"]
    names = data.manifest.set_index(data.manifest["id"].astype(str))["label_name"]
    orders = {name: ranking(arrays) for name, arrays in runs.items()}
    true_ranks = {name: _true_ranks(order) for name, order in orders.items()}
    k = min(k, len(ids))
    summary = [f"<table><thead><tr><th>Model</th><th>Recall@1</th><th>Top-{k} recall</th>"
               "<th>median rank of the true image</th></tr></thead><tbody>"]  # fmt: skip
    for name, ranks in true_ranks.items():
        summary.append(
            f"<tr><td>{name}</td><td class='num'>{np.mean(ranks == 1):.3f}</td>"
            f"<td class='num'>{np.mean(ranks <= k):.3f}</td><td class='num'>{np.median(ranks):.0f}</td></tr>"
        )
    summary.append(f"</tbody></table><p class='note'>Each of the {len(ids)} test captions queries the test images "
                   f"(caption to image; Table 1's recalls average this direction and image to caption). Chance Top-{k} "
                   f"is {k / len(ids):.3f}. The true image is outlined in green.</p>")  # fmt: skip
    parts = summary
    for i in sample_per_class(labels, per_class, seed):
        image_id = ids[i]
        parts.append(f"<h2>{html.escape(image_id)} ({html.escape(str(names.get(image_id, labels[i])))})</h2>")
        parts.append(f"<p>{html.escape(str(text.get(image_id, '')))}</p>")
        parts.append(thumbnail(data.images[position[image_id]], "true image", css="true"))
        for name, order in orders.items():
            rank = int(true_ranks[name][i])
            figs = []
            for j, hit in enumerate(order[i, :k], start=1):
                hit_id = ids[hit]
                label = f"{j}. {names.get(hit_id, labels[hit])}"
                figs.append(thumbnail(data.images[position[hit_id]], label, css="true" if hit == i else ""))
            parts.append(f"<h3>{name}: true image at rank {rank} of {len(ids)}</h3>" + "".join(figs))
    write_page(out, title, "\n".join(parts))
