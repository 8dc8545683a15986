"""The offline `describer` caption backend: captions written from measured morphology.

It needs no network and is deterministic: the same image and style always give the same caption. The prompt's text
is recorded but not interpreted; the prompt's `style` picks how the caption is written:

- `control`: a short, generic caption in the manner of a popular image description. It says little more than
  that there is a glowing, elongated or compact shape on a dark background (like the paper's control captions).
- `curated`: a morphological description in the manner of the paper's expert prompt: the bright flux centroids and
  where they sit in the frame (left, right, top, bottom, center), the jets or lobes, where they start and end,
  and sources not associated with the central galaxy. At most 50 words.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from morphalign.captions.analysis import Morphology, analyse, direction_word, frame_position
from morphalign.captions.backends import Context, Prompt
from morphalign.errors import MorphalignError

STYLES = ("control", "curated")
MAX_WORDS = 50  # both of the paper's prompts ask for 50 words or less

_NUMBERS = {0: "no", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def _count(n: int, noun: str) -> str:
    word = _NUMBERS.get(n, str(n))
    return f"{word} {noun}" + ("" if n == 1 else "s")


def _pick(options: list[str], image: np.ndarray, salt: str) -> str:
    """Deterministic choice keyed by the image's bytes, so wording varies across images but not across runs."""
    h = hashlib.sha256(salt.encode() + image.tobytes()).digest()
    return options[h[0] % len(options)]


def control_caption(image: np.ndarray, m: Morphology) -> str:
    """A generic, popular-style caption."""
    shape = "an elongated, glowing shape" if m.elongation > 2.0 else "a fuzzy, glowing blob"
    if m.bend_deg > 30:
        shape = "a curved, glowing streak"
    opener = _pick(
        ["A grainy image showing", "An astronomical image of", "A dark background with", "A blurry picture of"],
        image,
        "open",
    )
    tail = _pick(
        [
            "against the blackness of space.",
            "on a dark background.",
            "in a black field.",
            "glowing softly in the dark.",
        ],
        image,
        "tail",
    )
    extra = " A few faint specks are scattered around it." if m.unassociated else ""
    return f"{opener} {shape} {tail}{extra}"


def curated_caption(m: Morphology) -> str:
    """A morphological caption following the paper's expert prompt."""
    if not m.blobs:
        return "The image shows no significant emission; no flux centroids, lobes or jets are visible."
    shape = m.shape
    cx, cy = m.centre
    peaks = m.peaks[:3] if m.peaks else [(m.blobs[0].peak_x, m.blobs[0].peak_y, 1.0)]
    where = list(dict.fromkeys(frame_position(px, py, shape) for px, py, _ in peaks))
    parts: list[str] = []
    if len(peaks) == 1:
        parts.append(f"A bright flux centroid is located at the {where[0]}.")
    elif len(where) == 1:
        parts.append(f"There are {_count(len(peaks), 'bright flux centroid')}, all near the {where[0]}.")
    else:
        parts.append(
            f"There are {_count(len(peaks), 'bright flux centroid')}, at the "
            + ", ".join(where[:-1])
            + f" and {where[-1]}."
        )
    dirs = [direction_word(ex - cx, ey - cy) for ex, ey in m.ends]
    if m.brightening == "core":
        origin = frame_position(peaks[0][0], peaks[0][1], shape)
        parts.append(
            f"Two jets originate at the {origin} centroid and extend toward the {dirs[0]} and "
            f"{dirs[1]}, fading into diffuse plumes."
        )
        if m.bend_deg > 30:
            parts.append("The jets bend to one side.")
    elif m.brightening == "edge":
        parts.append(
            f"Two lobes extend from the {frame_position(cx, cy, shape)} toward the {dirs[0]} and "
            f"{dirs[1]}, each ending in a compact, bright hotspot; the emission is brightest at the edges."
        )
        if len(m.peaks) > 2:
            parts.append("A fainter centroid lies between the lobes.")
    elif m.elongation > 2.0:
        parts.append(f"Elongated emission runs from the {dirs[0]} to the {dirs[1]}; no distinct lobes or jets.")
    else:
        parts.append("The emission is compact, with no lobes or jets.")
    if m.unassociated:
        spots = sorted({frame_position(m.blobs[i].x, m.blobs[i].y, shape) for i in m.unassociated})
        n = len(m.unassociated)
        verb = "is" if n == 1 else "are"
        parts.append(
            f"{_count(n, 'compact source').capitalize()} at the {', '.join(spots)} {verb} "
            "not associated with the central galaxy."
        )
    else:
        parts.append("No other sources are present.")
    words = " ".join(parts).split()
    return " ".join(words[:MAX_WORDS])


def describe(image: np.ndarray, style: str) -> str:
    """Caption one uint8 image in `style` ('control' or 'curated')."""
    if style not in STYLES:
        raise ValueError(f"unknown describer style {style!r}; expected one of {STYLES}")
    m = analyse(image)
    return control_caption(image, m) if style == "control" else curated_caption(m)


class DescriberBackend:
    """Offline, deterministic captions from measured morphology."""

    name = "describer"

    def __init__(self, style: str) -> None:
        if style not in STYLES:
            raise MorphalignError(f"describer style {style!r} is unknown; expected one of {STYLES}")
        self.style = style
        self.model = f"describer-{style}-v1"

    def caption(self, images: np.ndarray, manifest: pd.DataFrame, prompt: Prompt) -> list[str]:
        from tqdm import tqdm

        return [describe(img, self.style) for img in tqdm(images, desc=f"describer:{prompt.name}", mininterval=5)]


def make_backend(prompt: Prompt, context: Context) -> DescriberBackend:
    """The backend registered as `describer`: the prompt's `style`, or its name."""
    return DescriberBackend(style=str(prompt.options.get("style", prompt.name)))
