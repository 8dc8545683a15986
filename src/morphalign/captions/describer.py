"""The offline `describer` caption backend: captions written from measured morphology, the way a VLM writes them.

It needs no network and is deterministic: the same image and style always give the same caption. The caption is
written from what `analysis` measures in the image (bright centroids and where they are, the main source's axis,
extent, ends, bending, whether it is brightest near its middle or at its ends, unrelated sources), never from the
dataset's label, and like a generative model's captions it is imperfect: wording is paraphrased, facts are left out
at random, and now and then a detail is wrong (`WRONG_DETAIL_RATE`). The randomness is seeded by the image's bytes.

- `control` (the paper's "50 words or less" prompt): a lay description, generic but informative: shape, size,
  orientation, where it is brightest, specks around it; a large, varied vocabulary.
- `curated` (the expert prompt): a morphological description: the bright flux centroids and where they sit in the
  frame, the jets or lobes, where they start and end, and sources not associated with the central galaxy, in a
  consistent, smaller vocabulary.

No caption names an FR class.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from morphalign.captions.analysis import Morphology, analyse
from morphalign.captions.backends import Context, Prompt
from morphalign.errors import MorphalignError
from morphalign.words import direction_word, frame_position, orientation, size_word

STYLES = ("control", "curated")
MAX_WORDS = 50  # both of the paper's prompts ask for 50 words or less
WRONG_DETAIL_RATE = 0.04  # how often a caption gets where the emission is brightest wrong, as VLMs do
OMIT_RATE = 0.3  # chance that each optional sentence is left out
_NUMBERS = {0: "no", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


class _Writer:
    """Seeded choices for one caption."""

    def __init__(self, image: np.ndarray, style: str) -> None:
        digest = hashlib.sha256(style.encode() + image.tobytes()).digest()
        self.rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def pick(self, options: list[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def keep(self) -> bool:
        return bool(self.rng.random() >= OMIT_RATE)

    def wrong(self) -> bool:
        return bool(self.rng.random() < WRONG_DETAIL_RATE)


def _count(n: int, noun: str) -> str:
    return f"{_NUMBERS.get(n, str(n))} {noun}" + ("" if n == 1 else "s")


def _brightening(m: Morphology, w: _Writer) -> str:
    """Measured core/edge brightening, sometimes wrong, as a VLM's reading of an image sometimes is."""
    b = m.brightening
    if b != "none" and w.wrong():
        return {"core": "edge", "edge": "core", "lopsided": "core"}[b]
    return b


def _ends(m: Morphology) -> list[str]:
    cx, cy = m.centre
    return list(dict.fromkeys(direction_word(ex - cx, ey - cy) for ex, ey in m.ends))


def _finish(sentences: list[str]) -> str:
    """Whole sentences only, in order, skipping any that would take the caption past MAX_WORDS."""
    kept: list[str] = []
    for sentence in sentences:
        if sum(len(k.split()) for k in kept) + len(sentence.split()) <= MAX_WORDS:
            kept.append(sentence)
    return " ".join(kept)


def curated_caption(image: np.ndarray, m: Morphology) -> str:
    """A morphological caption following the paper's expert prompt."""
    w = _Writer(image, "curated")
    if not m.blobs:
        return "The image shows no significant emission; no flux centroids, lobes or jets are visible."
    shape = m.shape
    peaks = m.peaks[:3] if m.peaks else [(m.blobs[0].peak_x, m.blobs[0].peak_y, 1.0)]
    where = list(dict.fromkeys(frame_position(px, py, shape) for px, py, _ in peaks))
    if len(peaks) == 1:
        first = w.pick(["A single bright flux centroid is located at the {0}.", "One bright centroid sits at the {0}."])
    elif len(where) == 1:
        first = f"There are {_count(len(peaks), 'bright flux centroid')}, close together at the {{0}}."
    else:
        first = f"There are {_count(len(peaks), 'bright flux centroid')}, at the " + ", ".join(where[:-1]) + " and {1}."
    sentences = [first.format(where[0], where[-1])]
    ends, axis = _ends(m), orientation(m.axis_deg)
    toward = " and ".join(ends) if len(ends) > 1 else ends[0] if ends else "edges"
    b = _brightening(m, w) if m.extent_px > 12 else "none"
    if b == "core":
        sentences.append(
            w.pick(
                [
                    f"Two jets originate at the central centroid and extend toward the {toward}, fading outward.",
                    f"Jets emerge from the central flux peak toward the {toward} and become diffuse.",
                    f"Emission extends from the bright center toward the {toward}, fading with distance.",
                ]
            )
        )
    elif b == "edge":
        sentences.append(
            w.pick(
                [
                    f"Two lobes extend toward the {toward}, each ending in a compact bright spot.",
                    f"Lobes reach toward the {toward}; the flux is brightest at their outer ends.",
                    f"The emission runs toward the {toward} and ends in bright compact peaks.",
                ]
            )
        )
    elif b == "lopsided":
        cx, cy = m.centre
        side = direction_word(peaks[0][0] - cx, peaks[0][1] - cy)
        sentences.append(
            w.pick(
                [
                    f"The emission extends toward the {toward} and is brightest at its {side} end.",
                    f"A jet or lobe runs toward the {toward}; the flux peaks toward the {side}.",
                ]
            )
        )
    elif m.extent_px > 12:
        sentences.append(f"The emission is extended toward the {toward}, with no clear jets or lobes.")
    else:
        sentences.append("The source is compact, with no lobes or jets.")
    if len(m.unassociated) > 3:
        sentences.append("Several compact sources around the field are not associated with the central galaxy.")
    elif m.unassociated:
        spots = sorted({frame_position(m.blobs[i].x, m.blobs[i].y, shape) for i in m.unassociated})
        n = len(m.unassociated)
        verb = "is" if n == 1 else "are"
        sentences.append(
            f"{_count(n, 'compact source').capitalize()} at the {' and '.join(spots)} {verb} "
            "not associated with the central galaxy."
        )
    elif w.keep():
        sentences.append(w.pick(["No other sources are present.", "No unrelated sources are visible."]))
    if m.extent_px > 12 and w.keep():
        sentences.append(w.pick([f"The structure is oriented {axis}.", f"Its axis runs {axis}."]))
    if m.extent_px > 12 and w.keep():
        sentences.append(f"The {size_word(m.extent_px)} structure spans about {int(round(m.extent_px, -1))} pixels.")
    if m.bend_deg > 30 and w.keep():
        sentences.append(w.pick(["The structure bends to one side.", "The emission is curved rather than straight."]))
    return _finish(sentences)


_SHAPES = {
    "compact": ["a small round glow", "a tiny bright dot", "a compact smudge", "a little fuzzy spot"],
    "straight": ["an elongated streak", "a stretched glowing shape", "a long thin structure", "a narrow band of light"],
    "bent": ["a curved, bent streak", "an arched glowing shape", "a bow-shaped structure", "a crooked streak of light"],
}
_BRIGHT = {
    "core": [
        "brightest in the middle and fading toward its tips",
        "with a glowing hot center that dims outward",
        "concentrated at the center with faint wispy extensions",
        "with a bright heart and soft trailing edges",
    ],
    "edge": [
        "with two bright knots at its far ends",
        "brightest at both tips, dimmer in between",
        "like a dumbbell with glowing ends",
        "with brilliant spots at the outer edges",
    ],
    "lopsided": [
        "brighter at one end than the other",
        "with a single bright spot near one tip",
        "glowing most strongly off to one side",
    ],
    "none": ["with fairly even brightness", "glowing softly throughout", "with a smooth, uniform glow"],
}
_OPENERS = [
    "A grainy astronomical image showing",
    "A dark background with",
    "A black-and-white picture of",
    "A noisy telescope image of",
    "A monochrome image featuring",
]


def control_caption(image: np.ndarray, m: Morphology) -> str:
    """A generic, popular-style caption that still says what the shape looks like."""
    w = _Writer(image, "control")
    if not m.blobs:
        return "A dark, empty image with only faint noise and no visible object."
    kind = "compact" if m.extent_px <= 12 else "bent" if m.bend_deg > 30 else "straight"
    b = _brightening(m, w) if kind != "compact" else "none"
    sentences = [f"{w.pick(_OPENERS)} {w.pick(_SHAPES[kind])} {w.pick(_BRIGHT[b])}."]
    if m.peaks and w.keep():
        n = min(len(m.peaks), 3)
        spots = "one bright spot stands out" if n == 1 else f"{_NUMBERS[n]} bright spots stand out"
        sentences.append(w.pick([f"{spots.capitalize()}.", f"Within it, {spots}."]))
    where = frame_position(*m.centre, m.shape)
    if w.keep():
        place = "in the middle of the frame" if where == "center" else f"toward the {where} of the frame"
        sentences.append(f"It is {size_word(m.extent_px)} and sits {place}.")
    if kind != "compact" and w.keep():
        sentences.append(w.pick([f"The shape runs {orientation(m.axis_deg)}.", f"It lies {orientation(m.axis_deg)}."]))
    if m.unassociated:
        n = len(m.unassociated)
        sentences.append(
            w.pick(
                [
                    f"{_count(n, 'faint speck').capitalize()} {'is' if n == 1 else 'are'} scattered nearby.",
                    f"A few other dots appear around it ({_NUMBERS.get(n, str(n))} in all).",
                ]
            )
        )
    elif w.keep():
        sentences.append(w.pick(["The surrounding field is empty and black.", "Nothing else stands out."]))
    return _finish(sentences)


def describe(image: np.ndarray, style: str) -> str:
    """Caption one uint8 image in `style` ('control' or 'curated')."""
    if style not in STYLES:
        raise ValueError(f"unknown describer style {style!r}; expected one of {STYLES}")
    m = analyse(image)
    return control_caption(image, m) if style == "control" else curated_caption(image, m)


class DescriberBackend:
    """Offline, deterministic captions from measured morphology."""

    name = "describer"

    def __init__(self, style: str) -> None:
        if style not in STYLES:
            raise MorphalignError(f"describer style {style!r} is unknown; expected one of {STYLES}")
        self.style = style
        self.model = f"describer-{style}-v2"

    def caption(self, images: np.ndarray, manifest: pd.DataFrame, prompt: Prompt) -> list[str]:
        from tqdm import tqdm

        return [describe(img, self.style) for img in tqdm(images, desc=f"describer:{prompt.name}", mininterval=5)]


def make_backend(prompt: Prompt, context: Context) -> DescriberBackend:
    """The backend registered as `describer`: the prompt's `style`, or its name."""
    return DescriberBackend(style=str(prompt.options.get("style", prompt.name)))
