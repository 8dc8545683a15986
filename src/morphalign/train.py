"""LoRA fine-tuning of SigLIP on image-caption pairs with the sigmoid loss, through accelerate.

Run it as `accelerate launch -m morphalign.train --run-config run.json ...` (what the workflow does), or plain
`python -m morphalign.train ...` on one device. The same code runs on CPU and on one or many GPUs.

- Inputs are the stage caches: resized uint8 images (once per dataset and model resolution) and token ids (once per
  prompt). With one tower frozen (`vision` or `text` target), that tower's embeddings are computed once up front
  instead of every step.
- Early stopping on the validation loss (`patience` epochs without an improvement above `min_delta`); the best
  epoch's adapter is restored at the end when `restore_best` is set, otherwise the last epoch's is kept.
- Deterministic on CPU for a given seed: seeded initialisation, a seeded shuffle, no data-loader workers.
- Writes the adapter with `save_pretrained` (reloadable with peft) and a per-epoch loss log (JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from morphalign.data.dataset import load_dataset
from morphalign.errors import MorphalignError
from morphalign.io import atomic_path, read_json, write_json
from morphalign.loss import sigmoid_loss
from morphalign.model.encode import image_features, text_features
from morphalign.model.load import load_model, load_processor
from morphalign.model.lora import TRAINED_TARGETS, apply_lora, trainable_summary
from morphalign.model.preprocess import PixelSpec, pixel_values
from morphalign.scripting import run_cli

LOGIT_PARAMS_FILE = "logit_params.pt"  # peft does not save logit_scale / logit_bias; we do when they train


def load_cache(pixels_path: str | Path, tokens_path: str | Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Load the resized-image and token caches, checking they cover the dataset's n rows."""
    pixels = np.load(pixels_path, allow_pickle=False)
    with np.load(tokens_path, allow_pickle=False) as z:
        ids = z["input_ids"]
    for name, arr in (("pixels", pixels), ("tokens", ids)):
        if len(arr) != n:
            raise MorphalignError(f"{name} cache holds {len(arr)} rows but the dataset has {n}")
    return pixels, ids


def _scheduler(name: str, optimizer, warmup: int, total: int):
    from transformers import get_scheduler

    names = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}
    if name not in names:
        raise MorphalignError(f"train.scheduler must be one of {sorted(names)}, got {name!r}")
    return get_scheduler(names[name], optimizer, num_warmup_steps=warmup, num_training_steps=total)


def _mixed_precision(requested: str) -> str:
    """bf16/fp16 need an accelerator; on CPU training runs in full precision."""
    return requested if torch.cuda.is_available() else "no"


class Towers(torch.nn.Module):
    """Both towers behind one `forward`, so data-parallel wrappers see (and synchronise) every trained weight."""

    def __init__(self, peft_model) -> None:
        super().__init__()
        self.peft = peft_model

    def forward(self, pixels: torch.Tensor | None = None, input_ids: torch.Tensor | None = None):
        base = self.peft.base_model.model
        img = image_features(base, pixels) if pixels is not None else None
        txt = text_features(base, input_ids) if input_ids is not None else None
        return img, txt, base.logit_scale, base.logit_bias


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, index: np.ndarray) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> int:
        return int(self.index[i])


def _run_hash(run: dict[str, Any]) -> str:
    """Identifies the run's settings and training code: a checkpoint from other settings is never resumed."""
    import hashlib
    import json

    from morphalign.provenance import code_hash

    blob = json.dumps(run, sort_keys=True) + code_hash("train", "loss", "model")
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "loader": gen.get_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _set_rng_state(state: dict[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    gen.set_state(state["loader"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train(
    run: dict[str, Any],
    dataset_dir: str | Path,
    pixels_path: str | Path,
    tokens_path: str | Path,
    adapter_dir: str | Path,
    log_path: str | Path,
    checkpoint_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Fine-tune one (prompt, target, seed) run; write the adapter and the loss log; return the log.

    With `checkpoint_dir`, the state after every epoch (trainable weights, optimizer, scheduler, every RNG, the
    early-stopping state and the loss log) is saved there atomically, and a run started again after a kill resumes
    from the last finished epoch, giving the same result as an uninterrupted run. The checkpoint is removed when
    the run completes.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm

    t0 = time.time()
    target, seed = run["target"], int(run["seed"])
    if target not in TRAINED_TARGETS:
        raise MorphalignError(f"run config: target {target!r} is not trainable; expected one of {TRAINED_TARGETS}")
    tcfg, lcfg, pcfg, mcfg = run["train"], run["lora"], run["preprocess"], run["model"]
    accelerator = Accelerator(
        mixed_precision=_mixed_precision(tcfg["mixed_precision"]), gradient_accumulation_steps=int(tcfg["grad_accum"])
    )
    n_proc, rank = accelerator.num_processes, accelerator.process_index
    set_seed(seed)
    ds = load_dataset(dataset_dir)
    pixels, ids = load_cache(pixels_path, tokens_path, len(ds.images))
    train_idx, val_idx = ds.split_index("train"), ds.split_index("val")
    if len(val_idx) == 0:
        raise MorphalignError(f"{dataset_dir}: no validation rows; early stopping needs dataset.val_size > 0")
    bs = int(tcfg["batch_size"])
    if bs % n_proc:
        raise MorphalignError(f"train.batch_size={bs} must be divisible by the {n_proc} processes (GPUs)")

    model = load_model(mcfg["path"], mcfg.get("cache_dir"))
    spec = PixelSpec.from_processor(load_processor(mcfg["path"], mcfg.get("cache_dir")))
    normalize = pcfg["pixel_norm"] == "siglip"
    model = apply_lora(
        model,
        target,
        r=int(lcfg["r"]),
        alpha=float(lcfg["alpha"]),
        dropout=float(lcfg["dropout"]),
        module_names=lcfg["target_modules"],
        scope=lcfg["scope"],
        train_logit_params=bool(lcfg["train_logit_params"]),
    )
    summary = trainable_summary(model)
    device = accelerator.device
    towers = Towers(model).to(device)

    # the frozen tower's embeddings never change: compute them once for train and val rows
    frozen: dict[int, torch.Tensor] = {}
    if target in ("vision", "text"):
        towers.eval()
        with torch.no_grad():
            rows = np.concatenate([train_idx, val_idx])
            feats = []
            for s in range(0, len(rows), 64):
                r = rows[s : s + 64]
                if target == "vision":
                    feats.append(towers(input_ids=torch.from_numpy(ids[r]).to(device))[1])
                else:
                    feats.append(towers(pixels=pixel_values(pixels[r], spec, normalize).to(device))[0])
            frozen_all = torch.cat(feats)
        frozen = {int(k): frozen_all[i] for i, k in enumerate(rows)}

    def gather(x: torch.Tensor) -> torch.Tensor:
        """All processes' embeddings, in rank order, with gradients flowing back to each process's share."""
        if n_proc == 1:
            return x
        import torch.distributed.nn.functional as dist_fn

        return torch.cat(dist_fn.all_gather(x), dim=0)

    def batch_loss(net, rows: list[int], distributed: bool) -> torch.Tensor:
        """Sigmoid loss of a global batch; each process embeds its slice, the loss sees the whole batch."""
        if distributed and n_proc > 1:
            per = len(rows) // n_proc
            rows = rows[: per * n_proc]
            mine = rows[rank * per : (rank + 1) * per]
        else:
            mine = rows
        r = np.asarray(mine)
        px = None if target == "text" else pixel_values(pixels[r], spec, normalize).to(device)
        tok = None if target == "vision" else torch.from_numpy(ids[r]).to(device)
        img, txt, scale, bias = net(pixels=px, input_ids=tok)
        if img is None:
            img = torch.stack([frozen[i] for i in mine])
        if txt is None:
            txt = torch.stack([frozen[i] for i in mine])
        if distributed:
            img, txt = gather(img.float()), gather(txt.float())
        return sigmoid_loss(img.float(), txt.float(), scale, bias)

    # every process draws the same global batches (same seeded shuffle) and embeds its own slice of each
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        _Pairs(train_idx), batch_size=bs, shuffle=True, generator=gen, collate_fn=list, drop_last=len(train_idx) > bs
    )
    params = [p for p in towers.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    steps_per_epoch = math.ceil(len(loader) / int(tcfg["grad_accum"]))
    total = steps_per_epoch * int(tcfg["max_epochs"])
    scheduler = _scheduler(tcfg["scheduler"], optimizer, int(float(tcfg["warmup_ratio"]) * total), total)
    net, optimizer = accelerator.prepare(towers, optimizer)

    def val_loss() -> float:
        towers.eval()
        total_loss, count = 0.0, 0
        with torch.no_grad():
            for s in range(0, len(val_idx), bs):
                rows = [int(i) for i in val_idx[s : s + bs]]
                total_loss += float(batch_loss(towers, rows, distributed=False)) * len(rows)
                count += len(rows)
        return total_loss / count

    epochs: list[dict[str, Any]] = []
    best_loss, best_epoch, best_state, bad = math.inf, 0, None, 0
    patience, min_delta = int(tcfg["patience"]), float(tcfg["min_delta"])
    stopped_early, start_epoch, elapsed_before, resumed_from = False, 1, 0.0, None
    ckpt_file = Path(checkpoint_dir) / "state.pt" if checkpoint_dir else None
    run_hash = _run_hash(run)
    trainable_names = [n for n, p in towers.named_parameters() if p.requires_grad]
    if ckpt_file is not None and ckpt_file.is_file():
        state = torch.load(ckpt_file, weights_only=False, map_location="cpu")
        if state.get("run_hash") == run_hash:
            named = dict(towers.named_parameters())
            with torch.no_grad():
                for k, v in state["trainable"].items():
                    named[k].copy_(v)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"], gen)
            epochs, initial = state["epochs"], state["initial_val_loss"]
            best_loss, best_epoch, best_state, bad = state["early"]
            start_epoch, elapsed_before, resumed_from = state["epoch"] + 1, state["elapsed"], state["epoch"]
            print(f"resumed from the checkpoint of epoch {state['epoch']}", file=sys.stderr)
            stopped_early = bad >= patience
        else:
            print("checkpoint from other settings or code: starting afresh", file=sys.stderr)
    if resumed_from is None:
        initial = val_loss()
    for epoch in range(start_epoch, int(tcfg["max_epochs"]) + 1):
        if stopped_early:
            break
        te = time.time()
        net.train()
        losses = []
        for rows in tqdm(
            loader, desc=f"epoch {epoch}", mininterval=10, file=sys.stderr, disable=not accelerator.is_main_process
        ):
            with accelerator.accumulate(net):
                loss = batch_loss(net, rows, distributed=True)
                accelerator.backward(loss)
                if accelerator.sync_gradients and tcfg["grad_clip"]:
                    accelerator.clip_grad_norm_(params, float(tcfg["grad_clip"]))
                optimizer.step()
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad()
            losses.append(float(loss.detach()))
        vl = val_loss()
        epochs.append(
            {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "val_loss": vl,
                "lr": float(scheduler.get_last_lr()[0]),
                "seconds": round(time.time() - te, 3),
            }
        )
        print(f"epoch {epoch}: train {epochs[-1]['train_loss']:.4f} val {vl:.4f}", file=sys.stderr)
        if vl < best_loss - min_delta:
            best_loss, best_epoch, bad = vl, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in towers.named_parameters() if v.requires_grad}
        else:
            bad += 1
            stopped_early = bad >= patience
        if ckpt_file is not None and accelerator.is_main_process:
            named = dict(towers.named_parameters())
            state = {
                "run_hash": run_hash,
                "epoch": epoch,
                "epochs": epochs,
                "initial_val_loss": initial,
                "trainable": {k: named[k].detach().cpu().clone() for k in trainable_names},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(gen),
                "early": (best_loss, best_epoch, best_state, bad),
                "elapsed": elapsed_before + time.time() - t0,
            }
            with atomic_path(ckpt_file) as tmp:
                torch.save(state, tmp)
        accelerator.wait_for_everyone()

    peft_model = towers.peft
    if tcfg["restore_best"] and best_state is not None:
        named = dict(towers.named_parameters())
        with torch.no_grad():
            for k, v in best_state.items():
                named[k].copy_(v)
    log = {
        "prompt": run["prompt"],
        "target": target,
        "seed": seed,
        "epochs": epochs,
        "initial_val_loss": initial,
        "epochs_trained": len(epochs),
        "best_epoch": best_epoch,
        "best_val_loss": best_loss if math.isfinite(best_loss) else None,
        "stopped_early": stopped_early,
        "restored": "best" if tcfg["restore_best"] else "last",
        "device": str(device),
        "mixed_precision": accelerator.mixed_precision,
        "num_processes": n_proc,
        "per_device_batch": bs // n_proc,
        "launcher": "accelerate" if "ACCELERATE_MIXED_PRECISION" in os.environ else "python",
        "resumed_from_epoch": resumed_from,
        "train_rows": len(train_idx),
        "val_rows": len(val_idx),
        **summary,
        "wall_time_s": round(elapsed_before + time.time() - t0, 3),
    }
    if accelerator.is_main_process:
        with atomic_path(adapter_dir, directory=True) as tmp:
            peft_model.save_pretrained(tmp)
            if lcfg["train_logit_params"]:
                b = peft_model.base_model.model
                torch.save(
                    {"logit_scale": b.logit_scale.detach().cpu(), "logit_bias": b.logit_bias.detach().cpu()},
                    tmp / LOGIT_PARAMS_FILE,
                )
        write_json(log_path, log)
        if ckpt_file is not None:
            ckpt_file.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                ckpt_file.parent.rmdir()
    accelerator.wait_for_everyone()
    return log


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="morphalign.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-config", required=True, help="per-run JSON written by the workflow")
    ap.add_argument("--dataset", required=True, help="dataset folder (images.npy + manifest.csv)")
    ap.add_argument("--pixels", required=True, help="resized-image cache (.npy)")
    ap.add_argument("--tokens", required=True, help="token cache for the run's prompt (.npz)")
    ap.add_argument("--adapter-out", required=True, help="folder for the LoRA adapter")
    ap.add_argument("--log-out", required=True, help="per-epoch loss log (JSON)")
    ap.add_argument("--checkpoint-dir", default=None, help="per-epoch checkpoint for resuming after a kill")
    args = ap.parse_args(argv)
    return run_cli(
        lambda: train(
            read_json(args.run_config),
            args.dataset,
            args.pixels,
            args.tokens,
            args.adapter_out,
            args.log_out,
            args.checkpoint_dir,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
