"""A run: its identity (prompt, LoRA target, seed), the one registry of targets, and its resolved settings.

Every part of the pipeline names runs through this module:

- `TARGETS` is the registry of LoRA targets, in table order. Adding a target is one entry here (with the towers it
  adapts; `model.lora` turns towers into the modules LoRA wraps). The config schema, the workflow's wildcard
  pattern, the table's columns and the training code all read it.
- `Run` is one run. Its id, and the folder below `results/runs/`, is `{prompt}/frozen` for the frozen baseline (one
  per prompt, no seed) or `{prompt}/{target}/seed{seed}`. `Run.parse` is the only parser of that scheme.
- `RunConfig` is the typed form of a run's resolved settings, which the workflow passes its jobs inline
  (`--run-json`) and the fine-tune writes as `run.json`: the only way configuration reaches training and embedding.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from morphalign.errors import MorphalignError


@dataclass(frozen=True)
class Target:
    """A LoRA target: which towers get adapters (none for the frozen baseline)."""

    name: str
    label: str  # the column heading in Table 1
    towers: tuple[str, ...]

    @property
    def trained(self) -> bool:
        return bool(self.towers)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("frozen", "Frozen", ()),
        Target("vision", "Vision", ("vision",)),
        Target("text", "Text", ("text",)),
        Target("full", "Full", ("vision", "text")),
    )
}
TRAINED_TARGETS: tuple[str, ...] = tuple(n for n, t in TARGETS.items() if t.trained)
FROZEN = "frozen"
TOWERS = ("vision", "text")


def target(name: str) -> Target:
    """The registered target called `name`; an error lists the registered ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise MorphalignError(f"unknown LoRA target {name!r}; expected one of {list(TARGETS)}") from None


def _alternatives(names: Iterable[str]) -> str:
    return "|".join(re.escape(n) for n in names)


# the workflow's `{run}` wildcard: a frozen baseline or a trained run (prompt names never contain "/")
RUN_PATTERN = rf"[^/]+/({FROZEN}|({_alternatives(TRAINED_TARGETS)})/seed\d+)"
TRAINED_RUN_PATTERN = rf"[^/]+/({_alternatives(TRAINED_TARGETS)})/seed\d+"


@dataclass(frozen=True, order=True)
class Run:
    """One run of the sweep. The frozen baseline has no seed (it trains nothing and is computed once)."""

    prompt: str
    target: str
    seed: int | None = None

    def __post_init__(self) -> None:
        if "/" in self.prompt or not self.prompt:
            raise MorphalignError(f"prompt name {self.prompt!r} must be non-empty and contain no '/'")
        t = target(self.target)
        if t.trained and self.seed is None:
            raise MorphalignError(f"run {self.prompt}/{self.target}: a trained target needs a seed")
        if not t.trained and self.seed is not None:
            raise MorphalignError(f"run {self.prompt}/{self.target}: the frozen baseline has no seed")

    @property
    def trained(self) -> bool:
        return TARGETS[self.target].trained

    @property
    def id(self) -> str:
        """`{prompt}/frozen` or `{prompt}/{target}/seed{seed}`: the run's folder below `results/runs/`."""
        return f"{self.prompt}/{self.target}" if self.seed is None else f"{self.prompt}/{self.target}/seed{self.seed}"

    @property
    def rng_seed(self) -> int:
        """The seed random number generators use: the run's seed, 0 for the frozen baseline."""
        return 0 if self.seed is None else self.seed

    @staticmethod
    @functools.cache
    def parse(run_id: str) -> Run:
        """The run named by `run_id` (the inverse of `Run.id`)."""
        parts = run_id.split("/")
        if len(parts) == 2 and parts[1] == FROZEN:
            return Run(parts[0], FROZEN)
        if len(parts) == 3 and parts[2].startswith("seed") and parts[2][4:].isdigit():
            return Run(parts[0], parts[1], int(parts[2][4:]))
        raise MorphalignError(f"run id {run_id!r} is neither '<prompt>/frozen' nor '<prompt>/<target>/seed<n>'")


def sweep(
    prompts: Iterable[str],
    targets: Iterable[str],
    seeds: Iterable[int],
    own_targets: Mapping[str, Iterable[str]] | None = None,
    own_seeds: Mapping[str, Iterable[int]] | None = None,
) -> list[Run]:
    """Every run of a sweep, in table order: per prompt, the frozen baseline once, then each target x seed.

    `own_targets` gives a prompt fewer targets than the sweep's, `own_seeds` other seeds (a prompt not in them
    takes the sweep's).
    """
    seeds, targets, own = list(seeds), list(targets), dict(own_targets or {})
    own_s = {p: list(s) for p, s in (own_seeds or {}).items()}
    runs = []
    for p in prompts:
        mine = list(own.get(p) or targets)
        for t in (name for name in TARGETS if name in targets and name in mine):
            runs += [Run(p, t)] if not TARGETS[t].trained else [Run(p, t, s) for s in own_s.get(p, seeds)]
    return runs


# ---- the resolved settings of a run (run.json) ----


def _build(cls, data: Mapping[str, Any], where: str):
    """A settings dataclass from a mapping, naming the missing or unknown key."""
    names = {f.name for f in fields(cls)}
    missing, unknown = names - set(data), set(data) - names
    if missing or unknown:
        raise MorphalignError(f"{where}: missing key(s) {sorted(missing)}, unknown key(s) {sorted(unknown)}")
    return cls(**data)


@dataclass(frozen=True)
class Preprocess:
    pixel_norm: str  # "siglip": [-1, 1]; "none": [0, 1]
    max_length: int
    lowercase: bool


@dataclass(frozen=True)
class LoraSettings:
    r: int
    alpha: float
    dropout: float
    target_modules: list[str]
    scope: str
    train_logit_params: bool


@dataclass(frozen=True)
class TrainSettings:
    lr: float
    max_epochs: int
    patience: int
    min_delta: float
    batch_size: int
    grad_accum: int
    weight_decay: float
    scheduler: str
    warmup_ratio: float
    grad_clip: float | None
    mixed_precision: str
    restore_best: bool
    loss_reduction: str = "siglip"
    gradient_checkpointing: bool = False


@dataclass(frozen=True)
class RunConfig:
    """What `run.json` holds: the run, the model it starts from, and the settings training and embedding read."""

    run: Run
    prompt_text: str
    model: str  # model.name_or_path: "tiny", a Hub id or a folder (where it lives is not part of a run)
    preprocess: Preprocess
    lora: LoraSettings | None  # None for the frozen baseline
    train: TrainSettings | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.run.prompt,
            "target": self.run.target,
            "seed": self.run.seed,
            "prompt_text": self.prompt_text,
            "model": self.model,
            "preprocess": asdict(self.preprocess),
            "lora": asdict(self.lora) if self.lora else None,
            "train": asdict(self.train) if self.train else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "run config") -> RunConfig:
        keys = {"prompt", "target", "seed", "prompt_text", "model", "preprocess", "lora", "train"}
        if set(data) != keys:
            raise MorphalignError(f"{where}: expected keys {sorted(keys)}, got {sorted(data)}")
        run = Run(data["prompt"], data["target"], data["seed"])
        if run.trained and (data["lora"] is None or data["train"] is None):
            raise MorphalignError(f"{where}: a trained run needs 'lora' and 'train' settings")
        return cls(
            run=run,
            prompt_text=data["prompt_text"],
            model=data["model"],
            preprocess=_build(Preprocess, data["preprocess"], f"{where}: preprocess"),
            lora=_build(LoraSettings, data["lora"], f"{where}: lora") if data["lora"] else None,
            train=_build(TrainSettings, data["train"], f"{where}: train") if data["train"] else None,
        )
