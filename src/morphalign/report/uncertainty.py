"""Intervals and paired tests for Table 1, from the per-image predictions of every run.

An **arm** is one (prompt, target): its runs' predictions tables (one per seed; the frozen baseline has one), all
on the same test images. Every statistic resamples test images, never the gallery: a retrieval query keeps the rank
it had among all n test items, so an interval says how the score would move on another draw of n queries.

- `bootstrap_cell`: a percentile interval for an arm's mean-over-seeds value. Each of R resamples draws k seeds with
  replacement, then n test images with replacement, and averages the metric of the drawn seeds on the drawn images
  (a hierarchical bootstrap; with one run it is the plain bootstrap over images).
- `bootstrap_difference`: the same for arm A minus arm B, drawing the *same* images for both arms (paired) and each
  arm's seeds independently.
- `permutation_test`: a paired two-sided test of "A and B score the same on each image". The arms' runs are paired
  in seed order (a single frozen run pairs with every seed of the other arm); each permutation swaps, image by
  image with probability 1/2, that image's predictions between the arms, and recomputes mean-over-seeds A minus B.
  With 2^n at most the number of permutations, all 2^n swaps are enumerated and the p-value is exact; otherwise
  p = (1 + #{|T*| >= |T|}) / (1 + P).
- `mcnemar`: the exact McNemar test of two classifiers' paired correctness (a binomial test on the discordant
  images), reported beside the permutation p for probes when each arm is one run.
- `holm`: Holm's step-down adjustment, for a family of p-values.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from morphalign.errors import MorphalignError
from morphalign.scores import Metric


@dataclass(frozen=True)
class Arm:
    """The predictions tables of one (prompt, target), one per run, in seed order, and where they came from."""

    name: str
    tables: tuple[pd.DataFrame, ...]
    sources: tuple[str, ...]  # each table's predictions file
    metric_files: tuple[str, ...] = ()  # and the metrics file written with it, when known

    @property
    def n(self) -> int:
        return len(self.tables[0])


def check_same_images(arms: list[Arm]) -> None:
    """Raise, naming both files, unless every table holds the same test images with the same labels, in order."""
    first, first_src = arms[0].tables[0], arms[0].sources[0]
    key = "id" if "id" in first.columns else "label"
    for arm in arms:
        for table, src in zip(arm.tables, arm.sources, strict=True):
            same = len(table) == len(first) and key in table.columns
            same = same and np.array_equal(table[key].to_numpy(), first[key].to_numpy())
            same = same and np.array_equal(table["label"].to_numpy(), first["label"].to_numpy())
            if not same:
                raise MorphalignError(
                    f"{src}: its test images (column {key!r}, {len(table)} rows) differ from those of {first_src} "
                    f"({len(first)} rows); paired statistics need every run scored on the same test set"
                )


def _per_run(arm: Arm, metric: Metric, idx: np.ndarray) -> np.ndarray:
    """metric of each run on each row of idx: shape (runs, R)."""
    return np.stack([np.asarray(metric(t, idx), dtype=float) for t in arm.tables])


def _seed_means(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per resample r, the mean of values[s, r] over k seeds s drawn with replacement."""
    k, r = values.shape
    if k == 1:
        return values[0]
    draws = rng.integers(0, k, size=(r, k))
    return values[draws, np.arange(r)[:, None]].mean(axis=1)


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_cell(
    arm: Arm, metric: Metric, resamples: int, rng: np.random.Generator, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the arm's mean-over-seeds metric (see the module docstring)."""
    idx = rng.integers(0, arm.n, size=(resamples, arm.n))
    return _interval(_seed_means(_per_run(arm, metric, idx), rng), confidence)


def bootstrap_difference(
    a: Arm, b: Arm, metric: Metric, resamples: int, rng: np.random.Generator, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of A minus B, both arms scored on the same resampled images."""
    idx = rng.integers(0, a.n, size=(resamples, a.n))
    diff = _seed_means(_per_run(a, metric, idx), rng) - _seed_means(_per_run(b, metric, idx), rng)
    return _interval(diff, confidence)


def _pairs(a: Arm, b: Arm) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    if len(a.tables) == 1 or len(b.tables) == 1:
        k = max(len(a.tables), len(b.tables))
        return [(a.tables[i % len(a.tables)], b.tables[i % len(b.tables)]) for i in range(k)]
    return list(zip(a.tables, b.tables, strict=False))  # equal seed counts in a sweep; extra seeds are left out


def _swap_masks(n: int, permutations: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    if n <= 20 and 2**n <= permutations:
        return np.array(list(itertools.product([False, True], repeat=n)), dtype=bool), True
    return rng.random((permutations, n)) < 0.5, False


def permutation_test(a: Arm, b: Arm, metric: Metric, permutations: int, rng: np.random.Generator) -> float:
    """Two-sided paired permutation p-value of mean-over-seeds A minus B (see the module docstring)."""
    n = a.n
    masks, exact = _swap_masks(n, permutations, rng)
    rows = np.arange(n)
    idx_a = np.where(masks, rows + n, rows)  # rows of the stacked [A; B] table each arm takes after the swap
    idx_b = np.where(masks, rows, rows + n)
    observed = 0.0
    stats = np.zeros(len(masks))
    pairs = _pairs(a, b)
    for ta, tb in pairs:
        both = pd.concat([ta, tb], ignore_index=True)
        observed += float(metric(ta, rows)) - float(metric(tb, rows))
        stats += np.asarray(metric(both, idx_a), dtype=float) - np.asarray(metric(both, idx_b), dtype=float)
    observed, stats = observed / len(pairs), stats / len(pairs)
    extreme = np.sum(np.abs(stats) >= abs(observed) - 1e-12)
    return float(extreme / len(masks)) if exact else float((1 + extreme) / (1 + len(masks)))


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Exact two-sided McNemar p-value: a binomial(b + c, 1/2) test on the discordant counts b and c."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    m = only_a + only_b
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(only_a, only_b) + 1)) / 2**m
    return min(1.0, 2.0 * tail)


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm step-down adjusted p-values, in the input order."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out
