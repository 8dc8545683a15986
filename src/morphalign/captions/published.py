"""The `published` caption backend: the reference study's Gemini captions.

The study published its Gemini 2.5 Flash captions in `elastufka/mirabest_captioned` (commit ceb190b): for the
curated (expert) prompt `gemini_captions_{train,test}.csv`, for the control prompt
`gemini_{train,test}_captions_blind.csv`. They are fetched from raw GitHub URLs pinned to that commit and checked
against sha256 digests, or read from a local folder, or found in the data mirror.

The rows carry no image ids: they follow the order of the Confident subset of MiraBest's *first* release
(`release: full`), training rows then test rows. They are paired with images by position, and only with that
dataset: MiraBest F holds the same images in another order and another train/test assignment, so positional pairing
with it would silently attach captions to the wrong galaxies. The curated training file's `index` column is off by
one for rows 1-100, so position, not that column, is used. The curated test file's `edited?` column (23 captions
edited by hand) becomes the `edited` column of the captions table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.captions.backends import Context, Prompt
from morphalign.config import PAIRING_HELP
from morphalign.errors import MorphalignError

REPO = "elastufka/mirabest_captioned"
COMMIT = "ceb190b70cab9f4282abf52e89874ac2b64f2f0e"
RAW = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}"


@dataclass(frozen=True)
class CaptionFile:
    name: str
    sha256: str
    rows: int


FILES = {
    ("curated", "train"): CaptionFile(
        "gemini_captions_train.csv", "18c9ac81be8386fcd05f9442659cb8f8113384a76cc4db0976674cf7a6e0c0a4", 729
    ),
    ("curated", "test"): CaptionFile(
        "gemini_captions_test.csv", "5c8dd5383460ad89a8a4b0b058d28ac55626b70318c1017b0b92b3a0aacc497e", 104
    ),
    ("control", "train"): CaptionFile(
        "gemini_train_captions_blind.csv", "c8f610ea9bf3a556f46f6f65ec0cf2c54d125eb7d4cdca51b4f34204540afd9b", 729
    ),
    ("control", "test"): CaptionFile(
        "gemini_test_captions_blind.csv", "bc56d51153ddfe7a289e2f25a6bf1a5de3506ad6c621816631b9bd352401fa2e", 104
    ),
}
CAPTION_SETS = ("curated", "control")


def locate(
    caption_set: str,
    split: str,
    local_dir: str | Path | None,
    download_dir: str | Path,
    mirrors: list[Path] | None = None,
) -> Path:
    """A verified copy of one published caption file."""
    from morphalign.download import fetch, verify

    spec = FILES[(caption_set, split)]
    if local_dir is not None:
        path = Path(local_dir) / spec.name
        if not path.is_file():
            raise MorphalignError(f"{path}: published caption file not found")
        verify(path, sha256=spec.sha256)
        return path
    return fetch(f"{RAW}/{spec.name}", download_dir, spec.name, sha256=spec.sha256, mirrors=mirrors)


def read_caption_file(path: Path, rows: int) -> pd.DataFrame:
    """Captions of one file in row order (position is authoritative), with an `edited` flag."""
    table = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    if "caption" not in table.columns:
        raise MorphalignError(f"{path}: no 'caption' column")
    if len(table) != rows:
        raise MorphalignError(f"{path}: {len(table)} rows, expected {rows}")
    captions = table["caption"].astype(str).str.strip()
    blank = np.flatnonzero((captions == "").to_numpy())
    if len(blank):
        raise MorphalignError(f"{path}: empty caption at row {int(blank[0])}")
    edited = (
        table["edited?"].astype(str).str.strip().isin(["1", "1.0", "True", "true", "yes", "x"])
        if "edited?" in table.columns
        else pd.Series(False, index=table.index)
    )
    out = pd.DataFrame({"caption": captions, "edited": edited.to_numpy()})
    if "true label" in table.columns:
        out["published_label"] = pd.to_numeric(table["true label"], errors="coerce").to_numpy()
    return out


def check_pairing(manifest: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the training pool and the test set, after checking the dataset is the right one."""
    release = set(manifest["release"]) if "release" in manifest.columns else set()
    if release != {"full"}:
        found = ", ".join(sorted(map(str, release))) or "not MiraBest"
        raise MorphalignError(
            f"published captions cannot be paired with this dataset (release: {found}): " + PAIRING_HELP
        )
    if "confidence" in manifest.columns and (manifest["confidence"] != "confident").any():
        raise MorphalignError("published captions cannot be paired with Uncertain sources: " + PAIRING_HELP)
    pool = np.flatnonzero(manifest["split"].isin(["train", "val"]).to_numpy())
    test = np.flatnonzero((manifest["split"] == "test").to_numpy())
    if len(pool) != 729 or len(test) != 104:
        raise MorphalignError(
            f"published captions need 729 training and 104 test images, the dataset has "
            f"{len(pool)} and {len(test)}: " + PAIRING_HELP
        )
    return pool, test


class PublishedBackend:
    """Captions of the reference study, paired by position with MiraBest (first release)."""

    name = "published"

    def __init__(self, caption_set: str, local_dir: str | None, download_dir: str, mirrors: list[Path]) -> None:
        if caption_set not in CAPTION_SETS:
            raise MorphalignError(f"published caption_set must be one of {CAPTION_SETS}, got {caption_set!r}")
        self.caption_set, self.local_dir, self.download_dir, self.mirrors = (
            caption_set,
            local_dir,
            download_dir,
            mirrors,
        )
        self.model = f"gemini-2.5-flash (published, {REPO}@{COMMIT[:7]})"

    def caption(self, images: np.ndarray, manifest: pd.DataFrame, prompt) -> pd.DataFrame:
        pool, test = check_pairing(manifest)
        out = pd.DataFrame({"caption": [""] * len(manifest), "edited": False})
        for split, rows in (("train", pool), ("test", test)):
            path = locate(self.caption_set, split, self.local_dir, self.download_dir, self.mirrors)
            table = read_caption_file(path, FILES[(self.caption_set, split)].rows)
            if "published_label" in table.columns:
                mine = manifest["label"].to_numpy()[rows]
                bad = np.flatnonzero(table["published_label"].to_numpy() != mine)
                if len(bad):
                    raise MorphalignError(
                        f"{path}: row {int(bad[0])} is labelled {table['published_label'].iloc[bad[0]]}"
                        f" but image {manifest['id'].iloc[rows[bad[0]]]} is {mine[bad[0]]}: " + PAIRING_HELP
                    )
            out.loc[rows, "caption"] = table["caption"].to_numpy()
            out.loc[rows, "edited"] = table["edited"].to_numpy()
        return out


def make_backend(prompt: Prompt, context: Context) -> PublishedBackend:
    """The backend registered as `published`: the prompt's `caption_set`, or its name."""
    return PublishedBackend(
        caption_set=str(prompt.options.get("caption_set", prompt.name)),
        local_dir=prompt.options.get("local_dir"),
        download_dir=context.download_dir,
        mirrors=list(context.mirrors),
    )
