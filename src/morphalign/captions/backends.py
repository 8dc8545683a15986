"""The caption-backend interface and registry.

A backend turns images into captions for one prompt. The stage (`morphalign.captions.stage`) owns everything around
it: reading the dataset, checking the output, writing the captions table. A backend implements `CaptionBackend` and
registers a factory in `BACKENDS`; the factory receives the prompt and a `Context` of workflow-wide settings.

`caption()` returns one caption per manifest row, in order: a list of strings, or a DataFrame with a `caption`
column and any extra columns the table should keep (the published backend adds `edited`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from morphalign.errors import MorphalignError


@dataclass(frozen=True)
class Prompt:
    """One named prompt from the config."""

    name: str
    text: str
    backend: str
    options: dict[str, Any] = field(default_factory=dict)  # backend-specific settings (e.g. describer style)


@dataclass(frozen=True)
class Context:
    """Workflow-wide settings a backend may need."""

    download_dir: str = "resources/downloads"
    mirrors: tuple[Path, ...] = ()
    captioning: dict[str, Any] = field(default_factory=dict)  # the config's `captioning` section
    cache_dir: str = "resources/captions"  # per-prompt stores of paid-for captions; survive reruns
    report_dir: str = "results/captions/reports"  # audit and failures reports


class CaptionBackend(Protocol):
    """What the captioning stage needs from a backend."""

    name: str
    model: str  # recorded in the captions table's `model` column

    def caption(self, images: np.ndarray, manifest: pd.DataFrame, prompt: Prompt) -> list[str] | pd.DataFrame:
        """Return one caption per manifest row, in order."""
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

    def caption(self, images: np.ndarray, manifest: pd.DataFrame, prompt: Prompt) -> list[str]:
        from tqdm import tqdm

        from morphalign.captions.describer import describe

        return [describe(img, self.style) for img in tqdm(images, desc=f"describer:{prompt.name}", mininterval=5)]


def _describer(prompt: Prompt, context: Context) -> CaptionBackend:
    return DescriberBackend(style=str(prompt.options.get("style", prompt.name)))


def _published(prompt: Prompt, context: Context) -> CaptionBackend:
    from morphalign.captions.published import PublishedBackend

    return PublishedBackend(
        caption_set=str(prompt.options.get("caption_set", prompt.name)),
        local_dir=prompt.options.get("local_dir"),
        download_dir=context.download_dir,
        mirrors=list(context.mirrors),
    )


def _gemini(prompt: Prompt, context: Context) -> CaptionBackend:
    from morphalign.captions.gemini import GeminiSettings
    from morphalign.captions.gemini_backend import GeminiBackend

    return GeminiBackend(GeminiSettings.from_config(context.captioning), context.cache_dir, context.report_dir)


BACKENDS: dict[str, Callable[[Prompt, Context], CaptionBackend]] = {
    "describer": _describer,
    "published": _published,
    "gemini": _gemini,
}


def make_backend(prompt: Prompt, context: Context | None = None) -> CaptionBackend:
    """Build the backend a prompt names, or fail naming the prompt."""
    try:
        factory = BACKENDS[prompt.backend]
    except KeyError:
        raise MorphalignError(
            f"prompts.{prompt.name}.backend: {prompt.backend!r} is not a caption backend; available: {sorted(BACKENDS)}"
        ) from None
    return factory(prompt, context or Context())
