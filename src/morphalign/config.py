"""The workflow configuration: validation against the JSON Schema, defaults, and per-run configs.

`validate_config` fills defaults from `workflow/schemas/config.schema.yaml` and raises a `MorphalignError` whose
message names the offending key (`dataset.val_seed: 'x' is not of type 'integer'`). Unknown keys are errors.
"""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path
from typing import Any

import yaml

from morphalign.errors import MorphalignError
from morphalign.runs import (
    TARGETS,
    TRAINED_TARGETS,
    LoraSettings,
    Preprocess,
    Run,
    RunConfig,
    TrainSettings,
    sweep,
)

TINY_MODEL = "tiny"
PAIRING_HELP = (
    "the published captions follow the Confident order of MiraBest's first release; pair them only with "
    "dataset.source: mirabest, dataset.mirabest.release: full, Confident sources only (include_uncertain: false, "
    "label_scheme: fr). MiraBest F holds the same images in a different order and train/test assignment, so "
    "pairing by position would give wrong captions"
)


def _with_defaults(validator_cls):
    from jsonschema import validators

    validate_props = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    return validators.extend(validator_cls, {"properties": set_defaults})


def _path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


_INT = re.compile(r"^[+-]?\d+$")


def _coerced(value: str, types: list[str]) -> Any:
    """`value` as the one non-string type the schema allows, when the text reads unambiguously as it; else itself."""
    text = value.strip()
    if "boolean" in types and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "integer" in types and _INT.match(text):
        return int(text)
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            pass
    if "null" in types and text.lower() in ("null", "none", "~"):
        return None
    return value


def coerce_strings(value: Any, schema: dict[str, Any]) -> Any:
    """Turn strings into the numbers, booleans or nulls the schema asks for, recursively.

    Snakemake passes a nested command-line override, `--config 'train={"lr": 0.005}'`, as strings ('0.005'). Where
    the schema's type for that key does not admit a string, and the text reads unambiguously as the type it does
    admit, the value is converted; anything else is left for validation to name.
    """
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: coerce_strings(v, props[k] if k in props else extra if isinstance(extra, dict) else {})
            for k, v in value.items()
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce_strings(v, schema["items"]) for v in value]
    if isinstance(value, str):
        types = schema.get("type")
        types = [types] if isinstance(types, str) else list(types or [])
        if types and "string" not in types:
            return _coerced(value, types)
    return value


def load_schema(schema_path: str | Path) -> dict[str, Any]:
    return yaml.safe_load(Path(schema_path).read_text())


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Return a validated copy of `config` with defaults filled in; raise naming the first bad key."""
    from jsonschema import Draft202012Validator

    schema = load_schema(schema_path)
    cfg = coerce_strings(copy.deepcopy(config) if config else {}, schema)
    validator = _with_defaults(Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if errors:
        e = errors[0]
        if e.validator == "additionalProperties":
            msg = f"{_path(e)}: {e.message} (unknown key; see {schema_path})"
        elif e.validator == "enum":
            msg = f"{_path(e)}: {e.instance!r} is not one of {e.validator_value}"
        elif e.validator in ("minLength", "pattern") and _path(e).endswith(".text"):
            msg = f"{_path(e)}: a prompt needs a non-empty text"
        elif _path(e) == "seeds" or _path(e).startswith("seeds."):
            msg = (
                f"seeds: {e.instance!r} is not valid: give a count n >= 1 (seeds 0..n-1, e.g. `seeds: 3`) or a list "
                "of distinct integers >= 0 (e.g. `seeds: [0, 1, 2]`)"
            )
        else:
            msg = f"{_path(e)}: {e.message}"
        raise MorphalignError(f"invalid config: {msg}")
    disabled = [name for name, p in cfg["prompts"].items() if not p.get("enabled", True)]
    disabled += [  # a shuffled control goes with the prompt it shuffles
        name
        for name, p in cfg["prompts"].items()
        if name not in disabled and p["backend"] == "shuffled" and p.get("source") in disabled
    ]
    cfg["prompts"] = {  # `enabled` only selects; it never reaches a job, so toggling one prompt reruns no other
        name: {k: v for k, v in p.items() if k != "enabled"}
        for name, p in cfg["prompts"].items()
        if name not in disabled
    }
    if not cfg["prompts"]:
        raise MorphalignError(f"invalid config: prompts: every prompt is disabled ({disabled}); enable at least one")
    _check_semantics(cfg, disabled)
    return cfg


def _check_semantics(cfg: dict[str, Any], disabled: list[str] | tuple[str, ...] = ()) -> None:
    """Rules the schema cannot state (`disabled`: prompts switched off with `enabled: false`)."""
    for i, name in enumerate(cfg["targets"]):
        if name not in TARGETS:
            raise MorphalignError(f"invalid config: targets.{i}: {name!r} is not one of {list(TARGETS)}")
    for name, p in cfg["prompts"].items():
        extra = [t for t in p.get("targets") or [] if t not in cfg["targets"]]
        if extra:
            raise MorphalignError(
                f"invalid config: prompts.{name}.targets: {extra[0]!r} is not one of the sweep's targets "
                f"{cfg['targets']}"
            )
        if p["backend"] == "describer" and "style" not in p and name not in ("control", "curated"):
            raise MorphalignError(
                f"invalid config: prompts.{name}.style is required for the describer backend "
                "(control or curated) when the prompt is not named after a style"
            )
        if p["backend"] == "published":
            if "caption_set" not in p and name not in ("control", "curated"):
                raise MorphalignError(
                    f"invalid config: prompts.{name}.caption_set is required for the published backend "
                    "(control or curated) when the prompt is not named after a set"
                )
            mb = cfg["dataset"]["mirabest"]
            if cfg["dataset"]["source"] != "mirabest" or mb["release"] != "full" or mb["include_uncertain"]:
                raise MorphalignError(f"invalid config: prompts.{name}.backend: published: {PAIRING_HELP}")
    for key in cfg["train"]["lr_by_run"]:
        prompt = key.split("/")[0]
        if prompt not in cfg["prompts"] and prompt not in disabled:
            raise MorphalignError(f"invalid config: train.lr_by_run.{key}: no prompt named {prompt!r}")
    if cfg["dataset"]["source"] == "synthetic" and cfg["dataset"]["val_size"] >= cfg["dataset"]["synthetic"]["n_train"]:
        raise MorphalignError("invalid config: dataset.val_size must be below dataset.synthetic.n_train")
    if cfg["dataset"]["source"] == "folder":
        for key in ("images_dir", "labels_csv"):
            if not cfg["dataset"]["folder"][key]:
                raise MorphalignError(f"invalid config: dataset.folder.{key} is required for source: folder")
    pool = training_pool_size(cfg)
    if pool is not None and cfg["evaluate"]["knn_k"] > pool:
        raise MorphalignError(
            f"invalid config: evaluate.knn_k is {cfg['evaluate']['knn_k']} but the training pool (train + val) the "
            f"k-NN probe is fitted on holds {pool} images; use at most {pool}"
        )
    prompts = sorted(cfg["prompts"])
    # a reference is needed when another prompt than the main one has its own captions (controls are compared in
    # Table 1d instead)
    compared = [n for n, p in cfg["prompts"].items() if p["backend"] != "shuffled"]
    main, ref = cfg["report"]["main_prompt"], cfg["report"]["reference_prompt"]
    for key, name in (("main_prompt", main), ("reference_prompt", ref)):
        if name in disabled and (key == "main_prompt" or len(compared) > 1):
            raise MorphalignError(
                f"invalid config: report.{key}: prompt {name!r} is disabled (enabled: false); set report.{key} to "
                f"one of {prompts}"
            )
    if main not in cfg["prompts"]:
        raise MorphalignError(f"invalid config: report.main_prompt: no prompt named {main!r}; prompts: {prompts}")
    if ref not in cfg["prompts"] and len(compared) > 1:  # with one prompt there is nothing to subtract
        raise MorphalignError(f"invalid config: report.reference_prompt: no prompt named {ref!r}; prompts: {prompts}")
    if cfg["captioning"].get("overrides"):
        check_override_prompts(cfg["captioning"]["overrides"], prompts)


def training_pool_size(cfg: dict[str, Any]) -> int | None:
    """Images the probes are fitted on (train + val), when known before the data stage runs; else None.

    Synthetic data: `n_train`. A folder dataset: the train and val rows of its labels CSV's `split` column, or its
    rows less `test_size` when the test set is drawn. MiraBest's pools are hundreds of images; `evaluate` checks
    again whatever the source.
    """
    ds = cfg["dataset"]
    if ds["source"] == "synthetic":
        return int(ds["synthetic"]["n_train"])
    if ds["source"] == "folder" and ds["folder"]["labels_csv"]:
        import pandas as pd

        try:
            table = pd.read_csv(ds["folder"]["labels_csv"], skipinitialspace=True)
        except (OSError, ValueError):
            return None  # the data stage names the file and what is wrong with it
        if "split" in table.columns:
            return int(table["split"].astype(str).str.strip().isin(["train", "val"]).sum())
        if 0 < ds["folder"]["test_size"] < len(table):  # the test set is drawn from the rows: the rest is the pool
            return len(table) - int(ds["folder"]["test_size"])
    return None


def check_override_prompts(path: str | Path, prompts: list[str]) -> None:
    """Every row of the overrides file names a configured prompt (a typo would drop the row silently)."""
    path = Path(path)
    if not path.is_file():
        raise MorphalignError(f"invalid config: captioning.overrides: {path} not found")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise MorphalignError(f"{path}: the file is empty (expected a header row: id, prompt, caption, note)")
    header = [h.strip() for h in rows[0]]
    if "prompt" not in header:
        raise MorphalignError(f"{path}: no 'prompt' column in the header {header} (expected id, prompt, caption, note)")
    col = header.index("prompt")
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise MorphalignError(f"{path}: row {i} has {len(row)} fields, the header {len(header)}")
        if row[col] not in prompts:
            raise MorphalignError(f"{path}: row {i}: prompt {row[col]!r} is not configured; prompts: {prompts}")


def seeds(cfg: dict[str, Any]) -> list[int]:
    """The seed list: a list as given, or 0..n-1 for a count."""
    return seed_list(cfg["seeds"])


def seed_list(s: int | list[int]) -> list[int]:
    """A `seeds` setting as a list: a list as given, or 0..n-1 for a count."""
    return list(range(s)) if isinstance(s, int) else [int(x) for x in s]


def trained_targets(cfg: dict[str, Any]) -> list[str]:
    return [t for t in cfg["targets"] if t in TRAINED_TARGETS]


def tiny_key(cfg: dict[str, Any], code: str) -> str:
    """Identity of the embedded tiny model: its sizes, its pretraining settings and the code that builds it."""
    import hashlib
    import json

    blob = json.dumps({"tiny": cfg["model"]["tiny"], "pretrain": cfg["pretrain"], "code": code}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def model_path(cfg: dict[str, Any], tiny_code: str = "") -> str:
    """Where the model is loaded from: the built tiny folder (named by its key), a Hub id or a local folder."""
    name = cfg["model"]["name_or_path"]
    if name == TINY_MODEL:
        return str(Path(cfg["resources"]) / "models" / f"tiny-siglip-{tiny_key(cfg, tiny_code)}")
    return name


def sweep_runs(cfg: dict[str, Any]) -> list[Run]:
    """Every run of the configured sweep, in table order."""
    own = {name: p["targets"] for name, p in cfg["prompts"].items() if p.get("targets")}
    own_seeds = {name: seed_list(p["seeds"]) for name, p in cfg["prompts"].items() if p.get("seeds") is not None}
    return sweep(cfg["prompts"], cfg["targets"], seeds(cfg), own, own_seeds)


def dataset_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The dataset section, with the settings of the selected source only: the others change nothing."""
    d = cfg["dataset"]
    return {"source": d["source"], "val_size": d["val_size"], "val_seed": d["val_seed"], d["source"]: d[d["source"]]}


def run_config(cfg: dict[str, Any], run: Run) -> dict[str, Any]:
    """The resolved settings of one run (`run.json`): everything training and embedding read.

    Only what makes the run what it is: evaluation settings are not part of it (changing them reruns evaluation
    only; the metrics file records them), nor is where the model is stored.
    """
    lora = train = None
    if run.trained:
        t = {k: v for k, v in cfg["train"].items() if k != "lr_by_run"}
        t["lr"] = cfg["train"]["lr_by_run"].get(f"{run.prompt}/{run.target}", cfg["train"]["lr"])
        lora, train = LoraSettings(**cfg["lora"]), TrainSettings(**t)
    return RunConfig(
        run=run,
        prompt_text=cfg["prompts"][run.prompt]["text"],
        model=cfg["model"]["name_or_path"],
        preprocess=Preprocess(**cfg["preprocess"]),
        lora=lora,
        train=train,
    ).to_dict()
