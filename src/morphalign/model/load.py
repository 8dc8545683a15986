"""Load a SigLIP model and its processor from a Hub id or a local folder.

`name_or_path` is either a Hugging Face Hub id such as `google/siglip2-base-patch16-224` (downloaded once into
`cache_dir`) or a local folder written by `save_pretrained` (the tiny model, a mirror of the real checkpoint).
A string that looks like a path (starts with `.`, `/` or `~`, or has more than one `/`) must be an existing
folder; anything else of the form `owner/name` is a Hub id.
"""

from __future__ import annotations

import re
from pathlib import Path

from morphalign.errors import MorphalignError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(name_or_path: str) -> bool:
    """True when `name_or_path` names a Hub repository rather than a local folder."""
    if Path(name_or_path).expanduser().exists():
        return False
    return bool(_HUB_ID.match(name_or_path)) and not name_or_path.startswith((".", "/", "~"))


def check_model_source(name_or_path: str) -> None:
    """Fail early, naming the folder, when a local model folder is missing or incomplete."""
    if is_hub_id(name_or_path):
        return
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        raise MorphalignError(
            f"model.name_or_path: model folder {name_or_path!r} does not exist "
            "(give a Hub id such as 'google/siglip2-base-patch16-224', or a folder written by save_pretrained)"
        )
    if not (folder / "config.json").is_file():
        raise MorphalignError(f"model.name_or_path: {name_or_path!r} has no config.json; not a saved model folder")


def _as_hub(name_or_path: str) -> str:
    """What a failed load should add when the string was taken for a Hub id, not a folder."""
    if not is_hub_id(name_or_path):
        return ""
    return (
        f" (taken for a Hugging Face Hub id, as no folder {Path(name_or_path).resolve()} exists; for a local folder, "
        f"fix the path or write it as ./{name_or_path})"
    )


def load_model(name_or_path: str, cache_dir: str | None = None):
    """Return a `SiglipModel` (through `AutoModel`) in eval mode."""
    from transformers import AutoModel

    check_model_source(name_or_path)
    try:
        model = AutoModel.from_pretrained(name_or_path, cache_dir=cache_dir)
    except OSError as exc:
        raise MorphalignError(
            f"model.name_or_path: cannot load {name_or_path!r}{_as_hub(name_or_path)}: {exc}"
        ) from exc
    if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
        raise MorphalignError(f"model.name_or_path: {name_or_path!r} is a {type(model).__name__}, not a dual encoder")
    return model.eval()


def load_processor(name_or_path: str, cache_dir: str | None = None):
    """Return the model's `SiglipProcessor` (tokenizer + image processor, through `AutoProcessor`)."""
    from transformers import AutoProcessor

    check_model_source(name_or_path)
    try:
        return AutoProcessor.from_pretrained(name_or_path, cache_dir=cache_dir)
    except OSError as exc:
        raise MorphalignError(
            f"model.name_or_path: cannot load the processor of {name_or_path!r}{_as_hub(name_or_path)}: {exc}"
        ) from exc
