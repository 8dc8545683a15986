"""One fine-tuning run: LoRA on SigLIP's chosen towers, the sigmoid loss, early stopping, checkpoints.

`train()` reads as a table of contents: set up, resume (or measure the initial validation loss), one epoch at a time
with validation, early stopping and a checkpoint, then restore and save. The same code runs on the CPU and on one or
many GPUs (through accelerate, see `launch`).

- Inputs are the stage caches: resized uint8 images and token ids. With one tower frozen (`vision` or `text`
  target), that tower's embeddings are read from the sweep's cache (`embed.frozen`), or computed once up front
  without one, instead of at every step.
- Early stopping on the validation loss (`patience` epochs without an improvement above `min_delta`); the best
  epoch's adapter is restored at the end when `restore_best` is set, otherwise the last epoch's is kept. The
  untrained state (epoch 0, its validation loss measured before training) competes too: a run that only got worse
  returns the untrained adapter, and says so with `best_epoch: 0`.
- Gradient accumulation restarts every epoch (see `train_epoch`), so the schedule's step count is exact and a
  linear schedule ends at zero.
- Deterministic on the CPU for a given seed: seeded initialisation, a seeded shuffle, no data-loader workers.
- Writes the adapter (`model.adapter`) and a per-epoch loss log (JSON).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from morphalign.artifacts import load_caches, load_dataset, load_rows
from morphalign.errors import MorphalignError
from morphalign.io import write_json
from morphalign.model.adapter import save_adapter
from morphalign.model.load import load_model, load_processor
from morphalign.model.lora import apply_lora, trainable_summary
from morphalign.model.preprocess import PixelSpec
from morphalign.runs import TARGETS, RunConfig, TrainSettings
from morphalign.train import checkpoint
from morphalign.train.towers import BatchLoss, Pairs, Towers, frozen_features


@dataclass(frozen=True)
class TrainPaths:
    """Where a run reads its inputs and writes its outputs."""

    dataset: Path
    pixels: Path
    tokens: Path
    adapter: Path
    log: Path
    checkpoint: Path | None = None  # per-epoch state, for resuming after a kill
    frozen: Path | None = None  # cached features of the tower the run leaves frozen (`embed.frozen`), if any

    @classmethod
    def of(cls, **paths: str | Path | None) -> TrainPaths:
        return cls(**{k: Path(v) if v is not None else None for k, v in paths.items()})


@dataclass
class Session:
    """Everything one run trains with, built by `set_up`."""

    cfg: RunConfig
    hp: TrainSettings
    accelerator: Any
    pairs: Pairs
    towers: Towers
    loss: BatchLoss
    net: torch.nn.Module  # `towers` as accelerate prepared it
    params: list[torch.nn.Parameter]
    optimizer: Any
    scheduler: Any
    loader: torch.utils.data.DataLoader
    generator: torch.Generator
    summary: dict[str, float]


@dataclass
class EarlyStopping:
    """Stop after `patience` epochs without a validation loss below the best by more than `min_delta`."""

    patience: int
    min_delta: float
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    bad: int = 0
    stopped: bool = False

    def update(self, val_loss: float, epoch: int, towers: Towers) -> None:
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.bad = val_loss, epoch, 0
            self.best_state = trainable_state(towers)
        else:
            self.bad += 1
            self.stopped = self.bad >= self.patience

    def state(self) -> tuple:
        return (self.best_loss, self.best_epoch, self.best_state, self.bad)


@dataclass
class Progress:
    """What the run has done so far: restored from a checkpoint, or fresh."""

    early: EarlyStopping
    initial_val_loss: float = math.nan
    epochs: list[dict[str, Any]] = field(default_factory=list)
    next_epoch: int = 1
    elapsed_before: float = 0.0  # seconds trained before a kill
    resumed_from: int | None = None


def trainable_state(towers: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the trainable weights (the adapter, and the logit scale and bias when trained)."""
    return {k: v.detach().cpu().clone() for k, v in towers.named_parameters() if v.requires_grad}


class _Rows(torch.utils.data.Dataset):
    def __init__(self, index: np.ndarray) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> int:
        return int(self.index[i])


def mixed_precision(requested: str) -> str:
    """bf16/fp16 need an accelerator; on the CPU training runs in full precision."""
    return requested if torch.cuda.is_available() else "no"


def make_scheduler(name: str, optimizer, warmup: int, total: int):
    from transformers import get_scheduler

    names = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}
    if name not in names:
        raise MorphalignError(f"train.scheduler must be one of {sorted(names)}, got {name!r}")
    return get_scheduler(names[name], optimizer, num_warmup_steps=warmup, num_training_steps=total)


def load_pairs(cfg: RunConfig, paths: TrainPaths, spec: PixelSpec) -> Pairs:
    """The dataset's caches and its train and validation rows, checked."""
    ds = load_dataset(paths.dataset)
    pixels, ids = load_caches(paths.pixels, paths.tokens, len(ds.images))
    val_rows = ds.split_index("val")
    if len(val_rows) == 0:
        raise MorphalignError(f"{paths.dataset}: no validation rows; early stopping needs dataset.val_size > 0")
    normalize = cfg.preprocess.pixel_norm == "siglip"
    return Pairs(pixels, ids, ds.split_index("train"), val_rows, spec, normalize)


def adapted_model(cfg: RunConfig, model_path: str, cache_dir: str | None):
    """The base model with LoRA on the run's towers (LoRA's initialisation draws from the seeded torch RNG)."""
    lora = cfg.lora
    assert lora is not None
    return apply_lora(
        load_model(model_path, cache_dir),
        cfg.run.target,
        r=lora.r,
        alpha=lora.alpha,
        dropout=lora.dropout,
        module_names=lora.target_modules,
        scope=lora.scope,
        train_logit_params=lora.train_logit_params,
    )


def set_up(cfg: RunConfig, paths: TrainPaths, model_path: str, cache_dir: str | None) -> Session:
    """Seed, load the data and the model, and build the optimiser, scheduler and shuffled loader."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    hp = cfg.train
    if not cfg.run.trained or hp is None:
        raise MorphalignError(f"run config: target {cfg.run.target!r} is not trainable")
    # accumulation is counted per epoch in `train_epoch`, not by accelerate, whose counter runs across epochs
    accelerator = Accelerator(mixed_precision=mixed_precision(hp.mixed_precision))
    n_proc, seed = accelerator.num_processes, cfg.run.rng_seed
    set_seed(seed)
    if hp.batch_size % n_proc:
        raise MorphalignError(f"train.batch_size={hp.batch_size} must be divisible by the {n_proc} processes (GPUs)")
    pairs = load_pairs(cfg, paths, PixelSpec.from_processor(load_processor(model_path, cache_dir)))
    model = adapted_model(cfg, model_path, cache_dir)
    if hp.gradient_checkpointing:  # recompute activations in backward: memory for compute; same numbers
        model.base_model.model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    towers = Towers(model).to(accelerator.device)
    trained = TARGETS[cfg.run.target].towers
    cached = load_rows(paths.frozen, len(pairs.ids)) if paths.frozen is not None else None
    frozen = frozen_features(towers, pairs, trained, accelerator.device, cached)
    loss = BatchLoss(pairs, trained, frozen, accelerator.device, n_proc, accelerator.process_index, hp.loss_reduction)
    # every process draws the same global batches (the same seeded shuffle) and embeds its own slice of each
    generator = torch.Generator().manual_seed(seed)
    rows = _Rows(pairs.train_rows)
    loader = torch.utils.data.DataLoader(
        rows,
        batch_size=hp.batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=list,
        drop_last=len(rows) > hp.batch_size,
    )
    params = [p for p in towers.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
    total = steps_per_epoch(len(loader), hp.grad_accum) * hp.max_epochs
    scheduler = make_scheduler(hp.scheduler, optimizer, int(hp.warmup_ratio * total), total)
    summary = trainable_summary(model)
    net, optimizer = accelerator.prepare(towers, optimizer)
    return Session(
        cfg, hp, accelerator, pairs, towers, loss, net, params, optimizer, scheduler, loader, generator, summary
    )


def validate(s: Session) -> float:
    """Mean sigmoid loss over the validation rows, in batches of the training size, on one process."""
    s.towers.eval()
    total, count = 0.0, 0
    bs = s.hp.batch_size
    with torch.no_grad():
        for start in range(0, len(s.pairs.val_rows), bs):
            rows = [int(i) for i in s.pairs.val_rows[start : start + bs]]
            total += float(s.loss(s.towers, rows, distributed=False)) * len(rows)
            count += len(rows)
    return total / count


def steps_per_epoch(batches: int, grad_accum: int) -> int:
    """Optimiser steps in one epoch: every `grad_accum` batches, plus one for a shorter group at the epoch's end."""
    return math.ceil(batches / grad_accum)


def accumulation_groups(batches: int, grad_accum: int) -> list[int]:
    """The size of the accumulation group each batch of an epoch belongs to (the last group may be shorter)."""
    return [min(grad_accum, batches - (i // grad_accum) * grad_accum) for i in range(batches)]


def train_epoch(s: Session, epoch: int) -> list[float]:
    """One pass over the shuffled training rows; the loss of each batch.

    Gradients accumulate over groups of `grad_accum` batches and never across epochs: the epoch's last group steps
    the optimiser even when it is shorter, each batch's loss is divided by its own group's size (so every step
    follows a mean gradient), and no gradient is left over for validation, the best-weights snapshot or the
    checkpoint.
    """
    from tqdm import tqdm

    acc, hp = s.accelerator, s.hp
    s.net.train()
    losses = []
    groups = accumulation_groups(len(s.loader), hp.grad_accum)
    batches = tqdm(s.loader, desc=f"epoch {epoch}", mininterval=10, file=sys.stderr, disable=not acc.is_main_process)
    for i, rows in enumerate(batches):
        step = (i + 1) % hp.grad_accum == 0 or i + 1 == len(groups)
        with contextlib.nullcontext() if step else acc.no_sync(s.net):
            loss = s.loss(s.net, rows, distributed=True)
            acc.backward(loss / groups[i])
        if step:
            if hp.grad_clip:
                acc.clip_grad_norm_(s.params, float(hp.grad_clip))
            s.optimizer.step()
            s.scheduler.step()
            s.optimizer.zero_grad()
        losses.append(float(loss.detach()))
    return losses


def resume(s: Session, folder: Path | None, key: dict[str, str]) -> Progress | None:
    """Progress restored from a checkpoint made from identical inputs, or None."""
    state = checkpoint.load(folder, key)
    if state is None:
        return None
    named = dict(s.towers.named_parameters())
    with torch.no_grad():
        for k, v in state["trainable"].items():
            named[k].copy_(v)
    s.optimizer.load_state_dict(state["optimizer"])
    s.scheduler.load_state_dict(state["scheduler"])
    checkpoint.set_rng_state(state["rng"], s.generator)
    best_loss, best_epoch, best_state, bad = state["early"]
    early = EarlyStopping(s.hp.patience, s.hp.min_delta, best_loss, best_epoch, best_state, bad, bad >= s.hp.patience)
    print(f"resumed from the checkpoint of epoch {state['epoch']}", file=sys.stderr)
    return Progress(
        early, state["initial_val_loss"], state["epochs"], state["epoch"] + 1, state["elapsed"], state["epoch"]
    )


def save_checkpoint(s: Session, folder: Path, key: dict[str, str], progress: Progress, elapsed: float) -> None:
    named = dict(s.towers.named_parameters())
    checkpoint.save(
        folder,
        {
            "resume_key": key,
            "epoch": progress.epochs[-1]["epoch"],
            "epochs": progress.epochs,
            "initial_val_loss": progress.initial_val_loss,
            "trainable": {k: v.detach().cpu().clone() for k, v in named.items() if v.requires_grad},
            "optimizer": s.optimizer.state_dict(),
            "scheduler": s.scheduler.state_dict(),
            "rng": checkpoint.rng_state(s.generator),
            "early": progress.early.state(),
            "elapsed": elapsed,
        },
    )


def restore_best(s: Session, early: EarlyStopping) -> None:
    if s.hp.restore_best and early.best_state is not None:
        named = dict(s.towers.named_parameters())
        with torch.no_grad():
            for k, v in early.best_state.items():
                named[k].copy_(v)


def peak_gpu_memory_mb() -> float | None:
    """The most GPU memory torch held at once in this process (None on the CPU)."""
    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None


def training_log(s: Session, progress: Progress, wall_time: float) -> dict[str, Any]:
    """The per-epoch losses and how the run went, as written to `train_log.json`."""
    run, acc, early = s.cfg.run, s.accelerator, progress.early
    return {
        "prompt": run.prompt,
        "target": run.target,
        "seed": run.seed,
        "epochs": progress.epochs,
        "initial_val_loss": progress.initial_val_loss,
        "epochs_trained": len(progress.epochs),
        "best_epoch": early.best_epoch,
        "best_val_loss": early.best_loss if math.isfinite(early.best_loss) else None,
        "stopped_early": early.stopped,
        "restored": "best" if s.hp.restore_best else "last",
        "device": str(acc.device),
        "mixed_precision": acc.mixed_precision,
        "num_processes": acc.num_processes,
        "per_device_batch": s.hp.batch_size // acc.num_processes,
        "launcher": "accelerate" if "ACCELERATE_MIXED_PRECISION" in os.environ else "python",
        "resumed_from_epoch": progress.resumed_from,
        "train_rows": len(s.pairs.train_rows),
        "val_rows": len(s.pairs.val_rows),
        **s.summary,
        "peak_gpu_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if torch.cuda.is_available()
        else None,
        "wall_time_s": round(wall_time, 3),
    }


def train(cfg: RunConfig, paths: TrainPaths, model_path: str, cache_dir: str | None = None) -> dict[str, Any]:
    """Fine-tune one run; write the adapter and the loss log; return the log.

    With `paths.checkpoint`, the state after every epoch is saved there, and a run started again after a kill
    resumes from the last finished epoch when its inputs are identical, giving the result of an uninterrupted run.
    """
    t0 = time.time()
    s = set_up(cfg, paths, model_path, cache_dir)
    key = checkpoint.resume_key(cfg, model_path, paths.dataset, paths.pixels, paths.tokens) if paths.checkpoint else {}
    progress = resume(s, paths.checkpoint, key)
    if progress is None:
        initial = validate(s)
        early = EarlyStopping(s.hp.patience, s.hp.min_delta, best_loss=initial, best_epoch=0)
        early.best_state = trainable_state(s.towers)  # the untrained adapter is a candidate too
        progress = Progress(early, initial_val_loss=initial)
    for epoch in range(progress.next_epoch, s.hp.max_epochs + 1):
        if progress.early.stopped:
            break
        te = time.time()
        losses = train_epoch(s, epoch)
        trained_s = time.time() - te
        vl = validate(s)
        lr = float(s.scheduler.get_last_lr()[0])
        progress.epochs.append(
            {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "val_loss": vl,
                "lr": lr,
                "steps": steps_per_epoch(len(s.loader), s.hp.grad_accum),
                "train_seconds": round(trained_s, 3),  # the steps alone
                "seconds": round(time.time() - te, 3),  # with validation
            }
        )
        print(f"epoch {epoch}: train {progress.epochs[-1]['train_loss']:.4f} val {vl:.4f}", file=sys.stderr)
        progress.early.update(vl, epoch, s.towers)
        if paths.checkpoint is not None and s.accelerator.is_main_process:
            save_checkpoint(s, paths.checkpoint, key, progress, progress.elapsed_before + time.time() - t0)
        s.accelerator.wait_for_everyone()
    restore_best(s, progress.early)
    log = training_log(s, progress, progress.elapsed_before + time.time() - t0)
    log["saved_val_loss"] = validate(s)  # of the weights saved: best_val_loss with restore_best, else the last's
    if s.accelerator.is_main_process:
        save_adapter(s.towers.peft, paths.adapter, cfg.lora.train_logit_params if cfg.lora else False)
        write_json(paths.log, log)
        checkpoint.remove(paths.checkpoint)
    s.accelerator.wait_for_everyone()
    return log
