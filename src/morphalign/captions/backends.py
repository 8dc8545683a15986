"""The caption-backend interface and registry.

A backend turns images into captions for one prompt. The stage (`morphalign.captions.stage`) owns everything around
it: reading the dataset, checking the output, writing the captions table. A new backend (Gemini, published
captions) implements `CaptionBackend` and registers itself in `BACKENDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from morphalign.errors import MorphalignError


@dataclass(frozen=True)
class Prompt:
    """One named prompt from the config."""

    name: str
    text: str
    backend: str
    options: dict[str, Any] = field(default_factory=dict)  # backend-specific settings (e.g. describer style)


class CaptionBackend(Protocol):
    """What the captioning stage needs from a backend."""

    name: str
    model: str  # recorded in the captions table's `model` column

    def caption(self, images: np.ndarray, ids: Sequence[str], prompt: Prompt) -> list[str]:
        """Return one caption per image, in order."""
        ...


class DescriberBackend:
    """Offline, deterministic captions from measured morphology (see `morphalign.captions.describer`)."""

    name = "describer"

    def __init__(self, style: str) -> None:
        from morphalign.captions.describer import STYLES

        if style not in STYLES:
            raise MorphalignError(f"describer style {style!r} is unknown; expected one of {STYLES}")
        self.style = style
        self.model = f"describer-{style}-v1"

    def caption(self, images: np.ndarray, ids: Sequence[str], prompt: Prompt) -> list[str]:
        from tqdm import tqdm

        from morphalign.captions.describer import describe

        return [describe(img, self.style) for img in tqdm(images, desc=f"describer:{prompt.name}", mininterval=5)]


def _describer(prompt: Prompt) -> CaptionBackend:
    return DescriberBackend(style=str(prompt.options.get("style", prompt.name)))


BACKENDS: dict[str, Callable[[Prompt], CaptionBackend]] = {"describer": _describer}


def make_backend(prompt: Prompt) -> CaptionBackend:
    """Build the backend a prompt names, or fail naming the prompt."""
    try:
        factory = BACKENDS[prompt.backend]
    except KeyError:
        raise MorphalignError(
            f"prompts.{prompt.name}.backend: {prompt.backend!r} is not a caption backend; available: {sorted(BACKENDS)}"
        ) from None
    return factory(prompt)
