"""Pretraining the tiny SigLIP on radio-sky scenes: the base model that the `frozen` target and LoRA start from.

The model is built (`model.tiny`), then every weight, the logit scale and bias included, is trained with the sigmoid
loss on a corpus of generic scenes (`pretrain.scenes`), with AdamW, a warm-up and a cosine decay. Each scene has
several paraphrased captions and each step picks one of them per pair. Held-out scenes measure image-text
Recall@1 and Recall@5 (both directions averaged) against chance after every epoch. The model folder holds what
`save_pretrained` writes, the tiny spec, and `pretrain_report.json`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from morphalign.artifacts import PRETRAIN_REPORT_FILE
from morphalign.io import atomic_path
from morphalign.model.encode import image_features, text_features
from morphalign.model.loss import sigmoid_loss
from morphalign.model.preprocess import PixelSpec, pixel_values, resize_images, tokenize
from morphalign.model.tiny import TinySpec, build_tiny
from morphalign.pretrain.scenes import caption, scene

CORPUS_STREAM = 7  # the corpus's own seed stream, apart from the FR dataset's (0: train, 1: test)


@dataclass(frozen=True)
class PretrainSettings:
    """How the base model is pretrained (the config's `pretrain` section)."""

    n_scenes: int
    n_held_out: int
    captions_per_scene: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_ratio: float
    seed: int


@dataclass(frozen=True)
class Corpus:
    pixels: np.ndarray  # resized uint8 images, scenes in order
    tokens: np.ndarray  # captions_per_scene x scenes x max_length token ids
    captions: list[list[str]]

    def __len__(self) -> int:
        return len(self.pixels)


def build_corpus(n: int, per_scene: int, seed: int, spec: PixelSpec, tokenizer, max_length: int) -> Corpus:
    """Draw `n` scenes with `per_scene` captions each, resized and tokenised for the model."""
    rng = np.random.default_rng([seed, CORPUS_STREAM])
    images, captions = [], []
    for _ in range(n):
        image, parts = scene(rng)
        images.append(image)
        captions.append([caption(parts, rng) for _ in range(per_scene)])
    tokens = np.stack([tokenize([c[k] for c in captions], tokenizer, max_length).input_ids for k in range(per_scene)])
    return Corpus(resize_images(np.stack(images), spec), tokens, captions)


def _embed(model, corpus: Corpus, rows: np.ndarray, spec: PixelSpec, batch: int = 250) -> tuple[torch.Tensor, ...]:
    imgs, txts = [], []
    with torch.no_grad():
        for s in range(0, len(rows), batch):
            r = rows[s : s + batch]
            imgs.append(image_features(model, pixel_values(corpus.pixels[r], spec)))
            txts.append(text_features(model, torch.from_numpy(corpus.tokens[0][r])))
    return torch.cat(imgs), torch.cat(txts)


def held_out_scores(model, corpus: Corpus, rows: np.ndarray, spec: PixelSpec) -> dict[str, float]:
    """Sigmoid loss, Recall@1 / @5 (both directions, averaged) and the spread of off-diagonal cosines."""
    model.eval()
    img, txt = _embed(model, corpus, rows, spec)
    with torch.no_grad():
        loss = float(sigmoid_loss(img, txt, model.logit_scale, model.logit_bias)) / len(rows)
    sim = (torch.nn.functional.normalize(img, dim=-1) @ torch.nn.functional.normalize(txt, dim=-1).T).numpy()
    n = len(rows)
    out: dict[str, float] = {"held_out_loss_per_pair": loss}
    for k in (1, 5):
        hits = [
            np.mean(np.argsort(-s, axis=1, kind="stable")[:, :k] == np.arange(n)[:, None]) * k for s in (sim, sim.T)
        ]
        out[f"recall_at_{k}"] = float(np.mean(hits))
        out[f"chance_recall_at_{k}"] = k / n
    out["off_diagonal_cosine_std"] = float(sim[~np.eye(n, dtype=bool)].std())
    model.train()
    return out


def _schedule(optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_epoch(model, corpus: Corpus, rows: np.ndarray, spec: PixelSpec, batch: int, opt, sched, rng) -> float:
    """One pass over the training scenes, one random caption per scene; the mean loss."""
    losses = []
    order = rng.permutation(rows)
    for s in range(0, len(order) - batch + 1, batch):
        r = order[s : s + batch]
        variant = rng.integers(corpus.tokens.shape[0], size=len(r))
        ids = torch.from_numpy(corpus.tokens[variant, r])
        img = image_features(model, pixel_values(corpus.pixels[r], spec))
        loss = sigmoid_loss(img, text_features(model, ids), model.logit_scale, model.logit_bias)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return float(np.mean(losses))


def pretrain(folder: str | Path, spec: TinySpec, settings: PretrainSettings) -> dict[str, Any]:
    """Build the tiny model, pretrain it (nothing when `epochs` is 0), and save it with its report."""
    t0 = time.time()
    model, processor = build_tiny(spec)
    report: dict[str, Any] = {"spec": asdict(spec), "settings": asdict(settings), "epochs": []}
    if settings.epochs > 0:
        pixel_spec = PixelSpec.from_processor(processor)
        corpus = build_corpus(
            settings.n_scenes + settings.n_held_out,
            settings.captions_per_scene,
            settings.seed,
            pixel_spec,
            processor.tokenizer,
            spec.max_length,
        )
        report["corpus_seconds"] = round(time.time() - t0, 1)
        report["sample_captions"] = [c[0] for c in corpus.captions[:5]]
        train_rows = np.arange(settings.n_scenes)
        held_out = np.arange(settings.n_scenes, len(corpus))
        torch.manual_seed(settings.seed)
        model.train()
        for p in model.parameters():
            p.requires_grad_(True)  # every weight, the logit scale and bias included
        opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        total = settings.epochs * (settings.n_scenes // settings.batch_size)
        sched = _schedule(opt, int(settings.warmup_ratio * total), total)
        rng = np.random.default_rng([settings.seed, CORPUS_STREAM, 1])
        report["initial"] = held_out_scores(model, corpus, held_out, pixel_spec)
        for epoch in range(1, settings.epochs + 1):
            te = time.time()
            loss = train_epoch(model, corpus, train_rows, pixel_spec, settings.batch_size, opt, sched, rng)
            scores = held_out_scores(model, corpus, held_out, pixel_spec)
            report["epochs"].append(
                {"epoch": epoch, "train_loss": loss, **scores, "seconds": round(time.time() - te, 2)}
            )
            print(
                f"epoch {epoch}: train {loss:.4f} held-out R@1 {scores['recall_at_1']:.3f} "
                f"R@5 {scores['recall_at_5']:.3f} (chance {scores['chance_recall_at_5']:.3f})",
                file=sys.stderr,
                flush=True,
            )
        report["final"] = report["epochs"][-1]
        report["logit_scale"] = float(model.logit_scale.exp())
        report["logit_bias"] = float(model.logit_bias)
    report["wall_time_s"] = round(time.time() - t0, 1)
    model.eval()
    with atomic_path(folder, directory=True) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "tiny_spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
        (tmp / PRETRAIN_REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report
