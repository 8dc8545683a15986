"""The caption-backend interface and registry.

A backend turns images into captions for one prompt. The stage (`morphalign.captions.stage`) owns everything around
it: reading the dataset, checking the output, writing the captions table. A backend implements `CaptionBackend` and
registers its module's factory in `BACKENDS`; the factory receives the prompt and a `Context` of workflow-wide settings.

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


# backend name -> "module:factory". Each backend's module is imported only when a prompt uses it, so the workflow
# hashes only the chosen backend's code for a prompt: editing the Gemini client reruns no describer prompt.
BACKENDS: dict[str, str] = {
    "describer": "morphalign.captions.describer:make_backend",
    "published": "morphalign.captions.published:make_backend",
    "gemini": "morphalign.captions.gemini.backend:make_backend",
    "shuffled": "morphalign.captions.shuffled:make_backend",
}


def backend_module(name: str) -> str:
    """The module that implements backend `name` (what a captions job runs besides the stage)."""
    return BACKENDS[name].partition(":")[0]


def make_backend(prompt: Prompt, context: Context | None = None) -> CaptionBackend:
    """Build the backend a prompt names, or fail naming the prompt."""
    import importlib

    try:
        module, _, factory = BACKENDS[prompt.backend].partition(":")
    except KeyError:
        raise MorphalignError(
            f"prompts.{prompt.name}.backend: {prompt.backend!r} is not a caption backend; available: {sorted(BACKENDS)}"
        ) from None
    make: Callable[[Prompt, Context], CaptionBackend] = getattr(importlib.import_module(module), factory)
    return make(prompt, context or Context())
