"""Generic radio-sky scenes and their captions: the corpus the tiny base model is pretrained on.

A scene holds 1-4 components at random positions, sizes, orientations and brightness ratios, drawn and observed
like a FIRST cut-out (`morphalign.sky`). The brightest component often sits near the middle of the frame, as in a
cut-out centred on a source. Each component is one of:

- `compact`: an unresolved spot;
- `ellipse`: an elongated Gaussian, brightest in the middle;
- `streak`: a bright spot with two tails that fade outward, brightest in the middle;
- `double`: two spots, sometimes joined by a faint bridge, brightest at both ends or at one;
- `arc`: a curved ridge of even brightness;
- `diffuse`: a large, faint patch.

Captions are templated and paraphrased from the scene's true layout: how many components, where the brightest
flux sits, how large the main one is (in words and in pixels), which way it runs and toward which sides it
extends, where it is brightest, and which other sources lie around it. They come in two registers, as a web
corpus has both: a technical one and a lay one ("a glowing streak", "specks nearby"). Facts may be left out, the
order varies, and a caption keeps to `MAX_WORDS`. The spatial words are those of `morphalign.words`, which the FR
captions use too: a generalist knows the language of shapes before it sees a radio galaxy. Measured on the
embedded default, the two registers lift the frozen model's Recall@5 on the curated FR captions from 0.072 to
about 0.17 (chance 0.048).
A scene's *twin* (`twin_image`, `twin_parts`) is the same scene turned by quarter turns and/or mirrored, with its
parts moved to match, so its captions change exactly where the layout does.

Nothing here knows about FR classes, and the vocabulary avoids radio-galaxy taxonomy (jet, lobe, hotspot, plume,
core): the scenes have no class. The corpus has its own seed stream, separate from the FR dataset's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from morphalign.sky import IMAGE_SIZE, Canvas, arm_path, direction, observe
from morphalign.words import direction_word, frame_position, orientation, size_word

KINDS = ("compact", "ellipse", "streak", "double", "arc", "diffuse")
PRIMARY_KINDS = (0.15, 0.15, 0.25, 0.25, 0.1, 0.1)  # the brightest component is usually extended
OTHER_KINDS = (0.5, 0.15, 0.05, 0.1, 0.05, 0.15)  # the others are usually compact
CENTRED = 0.6  # share of scenes whose brightest component sits near the middle, as in a centred cut-out
NOISE_RMS = (0.01, 0.06)  # about the FR dataset's range: some scenes are close to the noise
SHAPE = (IMAGE_SIZE, IMAGE_SIZE)


@dataclass(frozen=True)
class Part:
    """One component of a scene, as the caption describes it."""

    kind: str
    x: float
    y: float
    extent: float  # px, largest dimension
    angle: float  # degrees: the direction of its long axis (for a double, toward its first, brighter end)
    peak: float  # peak brightness before the beam (the brightest part of the scene is 1)
    bright: str = "middle"  # where it is brightest: middle | ends | one end | even
    bright_side: str = ""  # for "one end": the direction of the brighter end from the middle

    def ends(self) -> list[str]:
        """Directions, from the middle, toward which the part extends."""
        u = direction(self.angle)
        return [direction_word(*u), direction_word(*-u)]


def _draw(c: Canvas, p: Part, rng: np.random.Generator, ratio: float) -> None:
    centre = np.array([p.x, p.y])
    u = direction(p.angle)
    if p.kind == "compact":
        c.blob(p.x, p.y, p.peak, sigma_major=rng.uniform(0.8, 1.6))
    elif p.kind == "ellipse":
        c.blob(p.x, p.y, p.peak, sigma_major=p.extent / 4, sigma_minor=rng.uniform(1.2, 3.0), angle_deg=p.angle)
    elif p.kind == "diffuse":
        sig = p.extent / 4
        c.blob(p.x, p.y, p.peak, sigma_major=sig, sigma_minor=sig * rng.uniform(0.6, 1.0), angle_deg=p.angle)
    elif p.kind == "streak":
        c.blob(p.x, p.y, p.peak, sigma_major=rng.uniform(1.2, 1.8))
        for sign in (1, -1):
            for k in range(1, int(p.extent / 2) + 1):
                q = centre + sign * u * k
                c.blob(q[0], q[1], 0.35 * p.peak * math.exp(-k / (0.3 * p.extent)), sigma_major=1.0 + 0.08 * k)
    elif p.kind == "arc":
        bend = rng.uniform(40, 110) * rng.choice([-1, 1])
        path = arm_path(centre - u * p.extent / 2, p.angle - bend / 2, p.extent, bend)
        width = rng.uniform(1.0, 2.2)
        for q in path[::2]:
            c.blob(q[0], q[1], 0.6 * p.peak, sigma_major=width)
    else:  # double: the first end is the brighter one
        for end, amp in ((centre + u * p.extent / 2, p.peak), (centre - u * p.extent / 2, p.peak * ratio)):
            c.blob(end[0], end[1], amp, sigma_major=rng.uniform(1.0, 2.0))
        if rng.random() < 0.5:
            c.blob(p.x, p.y, p.peak * 0.12, sigma_major=p.extent / 3, sigma_minor=1.5, angle_deg=p.angle)


def random_part(rng: np.random.Generator, kind: str, peak: float, centred: bool) -> tuple[Part, float]:
    """A part and, for a double, the brightness ratio of its fainter end."""
    if centred:
        x, y = IMAGE_SIZE / 2 + rng.normal(0, 4, size=2)
    else:
        x, y = rng.uniform(18, IMAGE_SIZE - 18, size=2)
    extent = {
        "compact": rng.uniform(3, 6),
        "ellipse": rng.uniform(12, 45),
        "streak": rng.uniform(20, 90),
        "double": rng.uniform(16, 100),
        "arc": rng.uniform(20, 60),
        "diffuse": rng.uniform(25, 55),
    }[kind]
    angle, ratio = float(rng.uniform(0, 180)), float(rng.uniform(0.2, 1.0))
    bright, side = (
        {"compact": "middle", "ellipse": "middle", "streak": "middle", "arc": "even", "diffuse": "even"}.get(
            kind, "ends"
        ),
        "",
    )
    if kind == "double" and ratio < 0.6:
        bright, side = "one end", direction_word(*direction(angle))
    if kind == "diffuse":
        peak *= 0.35
    return Part(kind, float(x), float(y), float(extent), angle, float(peak), bright, side), ratio


def scene(rng: np.random.Generator) -> tuple[np.ndarray, list[Part]]:
    """One scene: the uint8 150 x 150 image and its parts, brightest first."""
    n = int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1]))
    peaks = np.sort(rng.uniform(0.15, 1.0, size=n))[::-1]
    peaks[0] = 1.0
    canvas, parts = Canvas(), []
    for i, peak in enumerate(peaks):
        kind = str(rng.choice(KINDS, p=PRIMARY_KINDS if i == 0 else OTHER_KINDS))
        part, ratio = random_part(rng, kind, float(peak), centred=i == 0 and rng.random() < CENTRED)
        _draw(canvas, part, rng, ratio)
        parts.append(part)
    image = observe(canvas.sky, rng.uniform(*NOISE_RMS), rng)
    return image, sorted(parts, key=lambda p: -p.peak)


# ---- twins: the same scene rotated or mirrored ----

DIHEDRAL = tuple((k, flip) for flip in (False, True) for k in range(4))  # (quarter turns, mirrored first)


def twin_image(image: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """An image (rows, columns first) mirrored left-right if `flip`, then turned `k` quarter turns anticlockwise."""
    if flip:
        image = image[:, ::-1]
    return np.ascontiguousarray(np.rot90(image, k, axes=(0, 1)))


def twin_parts(parts: list[Part], k: int, flip: bool, size: int = IMAGE_SIZE) -> list[Part]:
    """The parts of `twin_image(image, k, flip)`: positions, axes and the brighter end's side move with the image."""
    out = []
    for p in parts:
        x, y, angle = p.x, p.y, p.angle
        if flip:
            x, angle = size - 1 - x, 180.0 - angle
        for _ in range(k):  # a quarter turn anticlockwise: (x, y) -> (y, size - 1 - x)
            x, y, angle = y, size - 1 - x, angle + 90.0
        angle %= 360.0
        side = direction_word(*direction(angle)) if p.bright == "one end" else p.bright_side
        out.append(Part(p.kind, x, y, p.extent, angle, p.peak, p.bright, side))
    return out


# ---- captions ----
#
# Two registers, as a web-scale corpus holds both: a technical one (components, bright centroids, axes, extents in
# pixels, sources not associated with the main one) and a lay one (glows, streaks, specks, where in the frame).
# Either may leave any fact out. Both describe only what is drawn: no class, and no radio-galaxy taxonomy.

_KIND_WORDS = {
    "compact": ["compact spot", "point-like source", "small unresolved spot", "compact source"],
    "ellipse": ["elongated patch", "oval of emission", "stretched source", "elongated source"],
    "streak": ["streak of emission", "elongated structure", "linear feature", "thin streak"],
    "double": ["double source", "pair of spots", "two-sided structure", "double structure"],
    "arc": ["curved arc", "bent ridge of emission", "curving streak", "arc-shaped source"],
    "diffuse": ["diffuse cloud", "faint extended haze", "broad diffuse patch", "faint diffuse source"],
}
_LAY_WORDS = {
    "compact": ["a small round glow", "a tiny bright dot", "a little fuzzy spot"],
    "ellipse": ["an oval glow", "a stretched glowing shape", "an elongated smudge"],
    "streak": ["an elongated streak", "a long thin structure", "a narrow band of light"],
    "double": ["a pair of bright spots", "a dumbbell-like shape", "two glowing blobs side by side"],
    "arc": ["a curved, bent streak", "an arched glowing shape", "a crooked streak of light"],
    "diffuse": ["a faint fuzzy cloud", "a soft hazy glow", "a dim wispy patch"],
}
_BRIGHT = {
    "middle": ["brightest in the middle", "with a bright center fading outward", "peaking at its center"],
    "ends": ["brightest at both ends", "with bright spots at its two ends", "bright at the outer edges"],
    "one end": ["brightest at its {side} end", "with a bright spot at the {side} end"],
    "even": ["evenly bright", "with smooth, even brightness"],
}
_LAY_BRIGHT = {
    "middle": ["brightest in the middle and fading toward its tips", "with a glowing center that dims outward"],
    "ends": ["with two bright knots at its far ends", "brightest at both tips, dimmer in between"],
    "one end": ["brighter at one end than the other", "with a single bright spot near one tip"],
    "even": ["with fairly even brightness", "glowing softly throughout"],
}
_SPREAD = {  # how the main part's emission runs toward its ends, by where it is brightest
    "middle": ["The emission extends from the bright center toward the {to}, fading with distance."],
    "ends": ["The emission runs toward the {to} and ends in compact bright spots."],
    "one end": ["The emission extends toward the {to} and is brightest at its {side} end."],
    "even": ["The emission is extended toward the {to}."],
}
_OPENERS = ["A grainy astronomical image showing", "A dark background with", "A noisy telescope image of"]
_NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}
MAX_WORDS = 40  # about 55 tokens of the tiny vocabulary: a caption fits the text tower's 64 whole


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _place(rng: np.random.Generator, x: float, y: float) -> str:
    where = frame_position(x, y, SHAPE)
    if where == "center":
        return _pick(rng, ["at the center", "near the center", "in the middle"])
    return _pick(rng, [f"in the {where}", f"at the {where}", f"near the {where}"])


def peaks(parts: list[Part]) -> list[tuple[float, float]]:
    """Where the scene is brightest, brightest first: a double's ends, the others' middles; haze only if main."""
    spots: list[tuple[float, float, float]] = []
    for p in parts:
        if p.kind == "double":
            u = direction(p.angle) * p.extent / 2
            spots.append((p.x + u[0], p.y + u[1], p.peak))
            if p.bright == "ends":
                spots.append((p.x - u[0], p.y - u[1], 0.9 * p.peak))
        elif p.kind != "diffuse" or p is parts[0]:
            spots.append((p.x, p.y, p.peak))
    return [(x, y) for x, y, _ in sorted(spots, key=lambda s: -s[2])]


def _describe_part(p: Part, rng: np.random.Generator, main: bool) -> str:
    noun = _pick(rng, _KIND_WORDS[p.kind])
    bits = [f"a {noun}" if p.kind == "compact" else f"a {size_word(p.extent)} {noun}", _place(rng, p.x, p.y)]
    extended = p.kind not in ("compact", "diffuse")
    if extended and (main or rng.random() < 0.5):  # the main part's axis is usually given: the hardest fact to learn
        bits.append(_pick(rng, [f"oriented {orientation(p.angle)}", f"with its axis {orientation(p.angle)}"]))
    if extended and rng.random() < 0.4:
        bits.append(f"extending toward the {' and '.join(p.ends())}")
    if main and extended and rng.random() < 0.8:
        bits.append(_pick(rng, _BRIGHT[p.bright]).format(side=p.bright_side))
    return " ".join(bits)


def _technical(parts: list[Part], rng: np.random.Generator) -> list[str]:
    main, n = parts[0], len(parts)
    extended = main.kind not in ("compact", "diffuse")
    count = _pick(
        rng, [f"{_NUMBERS[n]} component{'s' if n > 1 else ''}", f"{_NUMBERS[n]} source{'s' if n > 1 else ''}"]
    )
    spots = list(dict.fromkeys(frame_position(x, y, SHAPE) for x, y in peaks(parts)[:3]))
    if rng.random() < 0.5:
        first = f"{_pick(rng, ['The image shows', 'We see', 'A field with'])} {count}."
    elif len(spots) == 1:
        first = f"The brightest flux is concentrated at the {spots[0]}."
    else:
        first = f"Bright flux centroids lie at the {', '.join(spots[:-1])} and {spots[-1]}."
    lead = _pick(rng, ["The brightest is", "The main source is", "It shows"])
    out = [first, f"{lead} {_describe_part(main, rng, main=True)}."]
    if extended and rng.random() < 0.5:
        out.append(_pick(rng, _SPREAD[main.bright]).format(to=" and ".join(main.ends()), side=main.bright_side))
    others = [p for p in parts[1:] if rng.random() < 0.7][:2]
    for p in others:
        if p.kind == "compact" and rng.random() < 0.5:
            out.append(f"A compact source {_place(rng, p.x, p.y)} is not associated with the main source.")
        else:
            out.append(f"{_pick(rng, ['There is', 'Also'])} {_describe_part(p, rng, main=False)}.")
    if n == 1 and rng.random() < 0.5:
        out.append(_pick(rng, ["No other sources are present.", "No unrelated sources are visible."]))
    if extended and rng.random() < 0.4:
        out.append(f"The {size_word(main.extent)} structure spans about {int(round(main.extent, -1))} pixels.")
    if main.kind == "arc" and rng.random() < 0.5:
        out.append(_pick(rng, ["The structure bends to one side.", "The emission is curved rather than straight."]))
    return out


def _lay(parts: list[Part], rng: np.random.Generator) -> list[str]:
    main, n = parts[0], len(parts)
    extended = main.kind not in ("compact", "diffuse")
    out = [f"{_pick(rng, _OPENERS)} {_pick(rng, _LAY_WORDS[main.kind])} {_pick(rng, _LAY_BRIGHT[main.bright])}."]
    where = frame_position(main.x, main.y, SHAPE)
    if rng.random() < 0.7:
        place = "in the middle of the frame" if where == "center" else f"toward the {where} of the frame"
        out.append(f"It is {size_word(main.extent)} and sits {place}.")
    if extended and rng.random() < 0.8:
        out.append(_pick(rng, [f"The shape runs {orientation(main.angle)}.", f"It lies {orientation(main.angle)}."]))
    if n > 1:
        extra = n - 1
        out.append(f"{_NUMBERS[extra].capitalize()} fainter {'speck is' if extra == 1 else 'specks are'} nearby.")
    elif rng.random() < 0.5:
        out.append(_pick(rng, ["The surrounding field is empty and black.", "Nothing else stands out."]))
    return out


def caption(parts: list[Part], rng: np.random.Generator) -> str:
    """A paraphrased caption of a scene's layout, in a technical or a lay register; facts may be left out."""
    sentences = _technical(parts, rng) if rng.random() < 0.6 else _lay(parts, rng)
    kept, tail = sentences[:2], sentences[2:]
    rng.shuffle(tail)
    for sentence in tail:  # whole sentences only, within the text tower's 64 tokens
        if len(" ".join([*kept, sentence]).split()) <= MAX_WORDS:
            kept.append(sentence)
    return " ".join(kept)
