"""Caption text without any model: words, class-name leaks, and how well a bag of words predicts the class.

Shared by the caption audit (`captions.audit`) and the calibration report (`report.calibration`). The class-name
pattern and the morphology words are defaults; the audit takes its lists from config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

# FR-I, FRII, FR 1, Fanaroff-Riley: a caption that names the class gives the answer away
CLASS_NAME = re.compile(r"\bfr[- ]?(i{1,2}|1|2)\b|fanaroff|riley", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def words(caption: str) -> list[str]:
    """Lower-case words; hyphenated words stay whole ('edge-brightened')."""
    return _WORD.findall(caption.lower())


def mask_words(captions: Sequence[str], masked: Iterable[str]) -> list[str]:
    """The captions with every listed word (and its hyphenated compounds' parts) removed."""
    drop = {w.lower() for w in masked}
    return [" ".join(w for w in words(c) if w not in drop and not set(w.split("-")) & drop) for c in captions]


def bag_of_words_predict(
    captions: Sequence[str], labels: np.ndarray, train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """Classes predicted for the `test` rows by a TF-IDF logistic regression fitted on the `train` rows.

    The vocabulary and IDF weights come from every caption (no labels), as an unsupervised step; only the
    classifier sees labels, and only the training rows'.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    x = TfidfVectorizer().fit_transform(list(captions))
    return LogisticRegression().fit(x[train], labels[train]).predict(x[test])


def bag_of_words_f1(captions: Sequence[str], labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Macro F1 on `test` of `bag_of_words_predict`: how much the words alone say about the class."""
    from sklearn.metrics import f1_score

    return float(f1_score(labels[test], bag_of_words_predict(captions, labels, train, test), average="macro"))
