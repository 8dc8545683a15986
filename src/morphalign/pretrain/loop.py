"""Pretraining the tiny SigLIP on radio-sky scenes: the base model that the `frozen` target and LoRA start from.

The model is built (`model.tiny`), then every weight, the logit scale and bias included, is trained with the sigmoid
loss on a corpus of generic scenes (`pretrain.scenes`), with AdamW (no decay on biases, norms, embeddings and the
logit scale and bias), a warm-up and a cosine decay. Each scene has several paraphrased captions and each step
picks one of them per pair. With `twins`, each scene shares its batch with a rotated or mirrored copy and that
copy's own captions: a hard negative that differs only in layout. The logit bias starts at the prior log-odds of a
positive pair in a batch, -log(batch - 1), as SigLIP's -10 does for 32k batches; at -10 a small batch first drives
every embedding to one point. Held-out scenes (and their twins) measure image-text Recall@1 and Recall@5 (both
directions averaged) against chance after every epoch. The model folder holds what `save_pretrained` writes, the
tiny spec, and `pretrain_report.json`.
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
from morphalign.pretrain.scenes import DIHEDRAL, caption, scene, twin_image, twin_parts

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
    twins: bool = True


@dataclass(frozen=True)
class Corpus:
    """Resized images and tokenised captions; with twins, scene i is row 2i and its twin row 2i + 1."""

    pixels: np.ndarray  # resized uint8 images, in row order
    tokens: np.ndarray  # captions_per_scene x rows x max_length token ids
    captions: list[list[str]]
    twins: bool

    def __len__(self) -> int:
        return len(self.pixels)

    def rows(self, scenes: np.ndarray) -> np.ndarray:
        """The rows of these scenes, each scene's twin right after it."""
        if not self.twins:
            return scenes
        return np.stack([2 * scenes, 2 * scenes + 1], axis=1).ravel()


def build_corpus(
    n: int, per_scene: int, seed: int, spec: PixelSpec, tokenizer, max_length: int, twins: bool = True
) -> Corpus:
    """Draw `n` scenes with `per_scene` captions each (and each scene's twin), resized and tokenised."""
    rng = np.random.default_rng([seed, CORPUS_STREAM])
    images, captions = [], []
    for _ in range(n):
        image, parts = scene(rng)
        resized = resize_images(image[None], spec)[0]
        images.append(resized)
        captions.append([caption(parts, rng) for _ in range(per_scene)])
        if twins:  # a random rotation or mirror image, never the identity
            k, flip = DIHEDRAL[int(rng.integers(1, len(DIHEDRAL)))]
            images.append(twin_image(resized, k, flip))
            moved = twin_parts(parts, k, flip)
            captions.append([caption(moved, rng) for _ in range(per_scene)])
    tokens = np.stack([tokenize([c[k] for c in captions], tokenizer, max_length).input_ids for k in range(per_scene)])
    return Corpus(np.stack(images), tokens, captions, twins)


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


def param_groups(model, settings: PretrainSettings) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only: not on biases, norms, embeddings, or the logit scale and bias."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        matrix = p.ndim >= 2 and not name.endswith(("position_embedding.weight", "token_embedding.weight"))
        (decay if matrix else plain).append(p)
    return [{"params": decay, "weight_decay": settings.weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _schedule(optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_epoch(model, corpus: Corpus, scenes: np.ndarray, spec: PixelSpec, batch: int, opt, sched, rng) -> float:
    """One pass over the training scenes (each with its twin in the same batch), one random caption each."""
    losses = []
    order = corpus.rows(rng.permutation(scenes))
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
            settings.twins,
        )
        report["corpus_seconds"] = round(time.time() - t0, 1)
        report["sample_captions"] = [c[0] for c in corpus.captions[:5]]
        train_scenes = np.arange(settings.n_scenes)
        held_out = corpus.rows(np.arange(settings.n_scenes, settings.n_scenes + settings.n_held_out))
        torch.manual_seed(settings.seed)
        with torch.no_grad():  # the log prior odds of a positive pair, as SigLIP's -10 is for its 32k batches
            model.logit_bias.fill_(-math.log(settings.batch_size - 1))
        model.train()
        for p in model.parameters():
            p.requires_grad_(True)  # every weight, the logit scale and bias included
        opt = torch.optim.AdamW(param_groups(model, settings), lr=settings.lr)
        total = settings.epochs * (len(corpus.rows(train_scenes)) // settings.batch_size)
        sched = _schedule(opt, int(settings.warmup_ratio * total), total)
        rng = np.random.default_rng([settings.seed, CORPUS_STREAM, 1])
        report["initial"] = held_out_scores(model, corpus, held_out, pixel_spec)
        for epoch in range(1, settings.epochs + 1):
            te = time.time()
            loss = train_epoch(model, corpus, train_scenes, pixel_spec, settings.batch_size, opt, sched, rng)
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
        report["logit_scale"] = float(model.logit_scale.detach().exp())
        report["logit_bias"] = float(model.logit_bias.detach())
    report["wall_time_s"] = round(time.time() - t0, 1)
    model.eval()
    with atomic_path(folder, directory=True) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "tiny_spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
        (tmp / PRETRAIN_REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report
