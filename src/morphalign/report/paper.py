"""Beside the paper: Table 1 of Lastufka, Drozdova and Voloshynovskiy (2025) as data, next to this sweep's values.

`reference/lastufka2025_table1.csv` is the paper's Table 1 ("Evaluation results"), transcribed by hand (see
`reference/README.md` for the citation and the columns). `METRICS` maps its row names onto this pipeline's metric
keys, and a test checks that every row maps onto a metric that `morphalign.evaluate` writes.

A side-by-side comparison means something only when the sweep ran the paper's setting: its model, its data (the
Confident FR-I / FR-II sources of MiraBest's first release) and its two prompts, captioned by a vision-language model.
`blockers` says which of these a config departs from; with any, the page shows the paper's table alone and says why.
Settings that change the numbers but not what they measure (F1 averaging, LoRA and training settings) are listed
as notes beside the comparison.

The paper reports one run per cell. Ours are means over seeds with a bootstrap interval, so a difference is read
against that interval (`within` says whether the paper's value lies inside it).
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from morphalign.errors import MorphalignError
from morphalign.report.pages import frame_html, write_page

PAPER_TABLE = Path(str(resources.files("morphalign.report") / "reference" / "lastufka2025_table1.csv"))
CITATION = (
    "E. Lastufka, M. Drozdova, S. Voloshynovskiy, Exploring Image-Text Alignment for Radio Galaxy Morphologies "
    "(2025), Table 1"
)

# the paper's row names -> this pipeline's metric keys (morphalign.evaluate writes them; morphalign.scores defines them)
METRICS = {
    "Linear probe F1, images": "linear_probe_f1_image",
    "Linear probe F1, text": "linear_probe_f1_text",
    "Linear probe F1, concatenated": "linear_probe_f1_concat",
    "Mean image-text cosine similarity": "mean_cosine",
    "Recall@1": "recall_at_1",
    "Top-5 Recall": "recall_at_5",
    "Class-level Recall@1": "class_recall_at_1",
    "KNN-classifier F1, images": "knn_f1_image",
    "KNN-classifier F1, text": "knn_f1_text",
    "KNN-classifier F1, concatenated": "knn_f1_concat",
}
TARGETS = ("frozen", "vision", "text", "full")

PAPER_MODEL = "google/siglip2-base-patch16-224"
PAPER_PROMPTS = {
    "curated": (
        "You are acting as an expert observational radio astronomer. Examine the following image and describe it in "
        "a concise manner. Look for bright centroids of flux and where in the image (left, right, top, bottom, "
        "center) they are located. Are there any lobes or jets associated with the flux centroids? From where do "
        "they originate and where do they end? Are there any sources in the image that are not associated with the "
        "central galaxy? Only describe morphology, leaving out any assumptions about the nature of the emission. "
        "Use 50 words or less."
    ),
    "control": "Please use 50 words or less to write a caption describing this image.",
}
CAPTIONERS = ("published", "gemini")  # backends whose captions come from a vision-language model
PAPER_TRAINING = {"lora.r": 8, "lora.alpha": 16, "train.lr": 2.5e-5}


def load_paper_table(path: str | Path = PAPER_TABLE) -> pd.DataFrame:
    """The paper's table with a `key` column (our metric key); every row checked."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"curated_minus_control": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MorphalignError(f"{path}: not a readable table ({exc})") from exc
    missing = {"metric", "target", "curated", "curated_minus_control", "bold"} - set(table.columns)
    if missing:
        raise MorphalignError(f"{path}: missing column(s) {sorted(missing)}")
    for i, row in table.iterrows():
        if row["metric"] not in METRICS:
            raise MorphalignError(f"{path}: row {i + 2}: metric {row['metric']!r} maps onto no metric of ours")
        if row["target"] not in TARGETS:
            raise MorphalignError(f"{path}: row {i + 2}: target {row['target']!r} is not one of {TARGETS}")
    table["key"] = table["metric"].map(METRICS)
    table["curated_minus_control"] = pd.to_numeric(table["curated_minus_control"].str.replace("+", ""))
    return table


def _same_text(a: str | None, b: str) -> bool:
    return " ".join((a or "").split()) == " ".join(b.split())


def blockers(setting: dict[str, Any]) -> list[str]:
    """Why this sweep's Table 1 is not the paper's setting (empty when it is).

    `setting`: `model` (name or path), `dataset` (the config's dataset section), and `main` / `reference`, each
    the prompt's config entry (`text`, `backend`).
    """
    out = []
    if setting["model"] != PAPER_MODEL:
        out.append(f"the model is `{setting['model']}`, not the paper's `{PAPER_MODEL}`")
    data = setting["dataset"]
    if data.get("source") != "mirabest":
        out.append(f"the dataset is `{data.get('source')}`, not MiraBest")
    else:
        mb = data.get("mirabest", {})
        if mb.get("release") != "full":
            out.append(f"MiraBest release `{mb.get('release')}`, not the first release (`full`) the paper used")
        if mb.get("include_uncertain"):
            out.append("the Uncertain sources are included; the paper used the Confident ones only")
        if mb.get("label_scheme", "fr") != "fr":
            out.append(f"label scheme `{mb.get('label_scheme')}`, not FR-I / FR-II")
    main = setting["main"]
    if not _same_text(main.get("text"), PAPER_PROMPTS["curated"]):
        out.append("the main prompt's text is not the paper's curated prompt")
    if main.get("backend") not in CAPTIONERS:
        out.append(f"the main prompt's captions come from `{main.get('backend')}`, not a vision-language model")
    return out


def notes(setting: dict[str, Any]) -> list[str]:
    """Settings that differ from the paper's without changing what is measured."""
    out = []
    ref = setting.get("reference") or {}
    if not (_same_text(ref.get("text"), PAPER_PROMPTS["control"]) and ref.get("backend") in CAPTIONERS):
        out.append("the reference prompt is not the paper's control prompt, so its differences are not compared")
    if setting.get("f1_average") != "binary":
        out.append(
            f"our F1 is `{setting.get('f1_average')}`-averaged; the paper's code scored binary F1 "
            "(`evaluate.f1_average: binary` matches it)"
        )
    for key, value in PAPER_TRAINING.items():
        ours = setting.get("training", {}).get(key)
        if ours is not None and ours != value:
            out.append(f"`{key}` is {ours}; the paper's is {value}")
    return out


def comparison(table1: pd.DataFrame, paper: pd.DataFrame, main: str, reference: str | None) -> pd.DataFrame:
    """The paper's rows beside ours: value, interval, seeds, difference, and the curated-minus-control differences."""
    cells = table1[(table1["kind"] == "cell") & (table1["prompt"] == main)].set_index(["metric", "target"])
    diffs = table1[
        (table1["kind"] == "difference")
        & (table1["prompt"] == main)
        & (table1["versus_prompt"] == reference)
        & (table1["versus_target"] == table1["target"])
    ].set_index(["metric", "target"])
    rows = []
    for _, p in paper.iterrows():
        at = (p["key"], p["target"])
        ours = cells.loc[at] if at in cells.index else None
        diff = diffs.loc[at] if reference and at in diffs.index else None
        row = {
            "metric": p["metric"],
            "target": p["target"],
            "paper": p["curated"],
            "ours": None if ours is None else ours["mean"],
            "ours_ci_low": None if ours is None else ours["ci_low"],
            "ours_ci_high": None if ours is None else ours["ci_high"],
            "seeds": None if ours is None else ours["n_seeds"],
        }
        row["ours_minus_paper"] = None if ours is None else ours["mean"] - p["curated"]
        row["within"] = None if ours is None else bool(ours["ci_low"] <= p["curated"] <= ours["ci_high"])
        row["paper_minus_control"] = p["curated_minus_control"]
        row["ours_minus_control"] = None if diff is None else diff["mean"]
        rows.append(row)
    return pd.DataFrame(rows)


def paper_page(
    table1_csv: str | Path, out: str | Path, setting: dict[str, Any], paper: str | Path = PAPER_TABLE
) -> None:
    """Write the comparison page: side by side in the paper's setting, else the paper's table and the reasons."""
    table = load_paper_table(paper)
    try:
        ours = pd.read_csv(table1_csv)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MorphalignError(f"{table1_csv}: not a readable Table 1 ({exc})") from exc
    cite = f"<p class='note'>The paper: {html.escape(CITATION)}, transcribed in <code>{Path(paper).name}</code>.</p>"
    stop = blockers(setting)
    if stop:
        reasons = "".join(f"<li>{_inline(r)}</li>" for r in stop)
        body = (
            "<p class='warn'><strong>Not compared:</strong> this sweep is not the paper's setting, so our values and "
            f"the paper's measure different things:</p><ul>{reasons}</ul>"
            "<p>Run <code>config/paper.yaml</code> (on a GPU) for a like-for-like comparison. The paper's values:</p>"
            + frame_html(_as_printed(table))
        )
        write_page(out, "Beside the paper", cite + body)
        return
    frame = comparison(ours, table, setting["main_name"], setting.get("reference_name"))
    extra = "".join(f"<li>{_inline(n)}</li>" for n in notes(setting))
    body = (
        "<p>The paper's value (one run) beside ours (mean over seeds, with its bootstrap interval). "
        "<em>within</em>: the paper's value lies inside our interval.</p>"
        + frame_html(frame, "{:.3f}")
        + (f"<p>Notes:</p><ul>{extra}</ul>" if extra else "")
    )
    write_page(out, "Beside the paper", cite + body)


def _as_printed(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's table as it prints it: two decimals, signed differences, the row's best marked."""
    return pd.DataFrame(
        {
            "metric": table["metric"],
            "target": table["target"],
            "curated": table["curated"].map("{:.2f}".format),
            "curated − control": table["curated_minus_control"].map(lambda v: "" if pd.isna(v) else f"{v:+.2f}"),
            "best of row": table["bold"].map({1: "bold", 0: ""}),
        }
    )


def _inline(text: str) -> str:
    """Escape, then render `code` spans."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
