"""The geometry of the joint embedding space: what LoRA does to it beyond retrieval and probes.

All on the test embeddings, every row L2-normalised first (SigLIP compares directions). `x` are the image
embeddings and `y` the text embeddings of the same n pairs, row i of each from the same image.

- **Modality gap** (Liang et al. 2022, "Mind the Gap"): ||mean_i x_i - mean_i y_i||, the distance between the
  centroids of the two modalities. 0 when they share a centroid; at most 2.
- **Alignment** (Wang & Isola 2020): mean_i ||x_i - y_i||^2, the squared distance between paired embeddings
  (= 2 - 2 cos). 0 when every pair coincides; lower is better aligned.
- **Uniformity** (Wang & Isola 2020), per modality: log mean_{i != j} exp(-2 ||x_i - x_j||^2). Near 0 when all
  rows collapse to one point; more negative when they spread over the sphere.
- **Mutual k-NN** (Huh et al. 2024): for each row, the share of its k cosine nearest neighbours (itself excluded)
  in image space that are also among its k nearest in text space, averaged over rows. 1 when the two spaces order
  neighbours alike; chance k / (n - 1) for unrelated spaces. `evaluate` caps k at n - 1 and records the k used.
- **Linear CKA** (Kornblith et al. 2019): ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F) on column-centred
  X and Y. 1 for spaces equal up to rotation and scale; invariant to orthogonal transforms.
"""

from __future__ import annotations

import numpy as np

from morphalign.vectors import l2_normalize

MUTUAL_KNN_K = 10  # Huh et al.'s k; with 104 test pairs, chance is 10 / 103 = 0.097


def _unit(x: np.ndarray) -> np.ndarray:
    return l2_normalize(np.asarray(x, dtype=np.float64))


def modality_gap(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.linalg.norm(_unit(x).mean(axis=0) - _unit(y).mean(axis=0)))


def alignment(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.sum((_unit(x) - _unit(y)) ** 2, axis=1)))


def uniformity(x: np.ndarray, t: float = 2.0) -> float:
    u = _unit(x)
    sq = np.maximum(2.0 - 2.0 * (u @ u.T), 0.0)  # squared distances of unit vectors
    off = ~np.eye(len(u), dtype=bool)
    return float(np.log(np.mean(np.exp(-t * sq[off]))))


def _neighbours(x: np.ndarray, k: int) -> np.ndarray:
    u = _unit(x)
    sim = u @ u.T
    np.fill_diagonal(sim, -np.inf)  # self excluded
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def mutual_knn(x: np.ndarray, y: np.ndarray, k: int = MUTUAL_KNN_K) -> float:
    if not 0 < k < len(x):
        raise ValueError(f"mutual k-NN needs 0 < k < n rows; k = {k}, n = {len(x)}")
    a, b = _neighbours(x, k), _neighbours(y, k)
    return float(np.mean([len(set(a[i]) & set(b[i])) / k for i in range(len(x))]))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    xc = np.asarray(x, dtype=np.float64) - np.mean(x, axis=0)
    yc = np.asarray(y, dtype=np.float64) - np.mean(y, axis=0)
    cross = np.linalg.norm(yc.T @ xc, "fro") ** 2
    return float(cross / (np.linalg.norm(xc.T @ xc, "fro") * np.linalg.norm(yc.T @ yc, "fro")))


def geometry(x: np.ndarray, y: np.ndarray, k: int = MUTUAL_KNN_K) -> dict[str, float]:
    """Every measure above for one run's test image (x) and text (y) embeddings."""
    return {
        "modality_gap": modality_gap(x, y),
        "alignment": alignment(x, y),
        "uniformity_image": uniformity(x),
        "uniformity_text": uniformity(y),
        "mutual_knn": mutual_knn(x, y, k),
        "chance_mutual_knn": k / (len(x) - 1),
        "linear_cka": linear_cka(x, y),
    }
