"""The classifiers fitted on embeddings: scikit-learn's logistic regression and k-NN, and the reference code's torch
linear probe. Each has scikit-learn's `fit` / `predict` / `predict_proba` / `classes_`.
"""

from __future__ import annotations

import numpy as np


def logistic():
    """Logistic regression on standardised features (max_iter 5000: converges on 768-d embeddings)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def knn(k: int):
    """k nearest neighbours by cosine distance, majority vote."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=k, metric="cosine")


class TorchAdamProbe:
    """A torch linear layer on the raw features, trained full-batch with Adam on the cross-entropy.

    The reference study's probe. Deterministic: the layer is initialised from `seed`, and the whole training pool is
    one batch, so there is no shuffle.
    """

    def __init__(self, epochs: int = 200, lr: float = 1e-3, seed: int = 0) -> None:
        self.epochs, self.lr, self.seed = epochs, lr, seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> TorchAdamProbe:
        import torch

        self.classes_ = np.unique(y)
        gen = torch.Generator().manual_seed(self.seed)
        xt = torch.as_tensor(x, dtype=torch.float32)
        yt = torch.as_tensor(np.searchsorted(self.classes_, y))
        self.layer = torch.nn.Linear(xt.shape[1], len(self.classes_))
        with torch.no_grad():  # nn.Linear's default init, drawn from our generator rather than the global one
            bound = 1.0 / np.sqrt(xt.shape[1])
            self.layer.weight.uniform_(-bound, bound, generator=gen)
            self.layer.bias.uniform_(-bound, bound, generator=gen)
        opt = torch.optim.Adam(self.layer.parameters(), lr=self.lr)
        for _ in range(self.epochs):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(self.layer(xt), yt).backward()
            opt.step()
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return torch.softmax(self.layer(torch.as_tensor(x, dtype=torch.float32)), dim=1).double().numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]
