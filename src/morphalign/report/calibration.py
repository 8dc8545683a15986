"""How hard the images are and how much the captions give away, measured without any model.

A study of image-text alignment is only as good as its data: if one pixel, or one word, tells the classes apart,
every number downstream is fixed by construction. These measures say how far that is from being the case:

- images: macro F1 (train pool -> test) of logistic regression on raw pixels, and of single features, the
  distance of the brightest pixel from the centre and the brightness of the central 10 x 10 pixels (on MiraBest F:
  0.67, 0.57 and 0.63);
- each caption set: macro F1 of a bag-of-words (TF-IDF) logistic regression, the share of distinct captions, the
  vocabulary, and how many captions name an FR class outright.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from morphalign.artifacts import load_captions, load_dataset
from morphalign.io import write_csv
from morphalign.text import CLASS_NAME, bag_of_words_f1


def _f1(x_train, y_train, x_test, y_test, scale: bool = False) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)) if scale else LogisticRegression()
    clf.fit(x_train, y_train)
    return float(f1_score(y_test, clf.predict(x_test), average="macro"))


def image_measures(images: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Raw-pixel and single-feature F1 of a set of uint8 images."""
    n, h, w = images.shape
    flat = images.reshape(n, -1).astype(np.float64) / 255.0
    peaks = np.array([np.unravel_index(int(np.argmax(im)), im.shape) for im in images], dtype=np.float64)
    distance = np.hypot(peaks[:, 0] - h / 2, peaks[:, 1] - w / 2)[:, None]
    central = images[:, h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5].reshape(n, -1).max(1)[:, None] / 255.0
    y = labels
    return {
        "raw_pixel_lr_f1": _f1(flat[train], y[train], flat[test], y[test], scale=True),
        "brightest_pixel_distance_f1": _f1(distance[train], y[train], distance[test], y[test]),
        "central_brightness_f1": _f1(central[train], y[train], central[test], y[test]),
    }


def caption_measures(captions: list[str], labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Bag-of-words F1, distinct share, vocabulary and class-name mentions of one caption set."""
    return {
        "bag_of_words_f1": bag_of_words_f1(captions, labels, train, test),
        "distinct_share": len(set(captions)) / len(captions),
        "vocabulary": float(len({w for c in captions for w in re.findall(r"[a-z]+", c.lower())})),
        "class_name_mentions": float(sum(bool(CLASS_NAME.search(c)) for c in captions)),
    }


def calibration(dataset_dir: str | Path, captions: Mapping[str, str | Path], out_csv: str | Path) -> pd.DataFrame:
    """Every measure for the dataset and each prompt's captions, as a long table (subject, measure, value)."""
    ds = load_dataset(dataset_dir)
    labels = ds.manifest["label"].to_numpy().astype(int)
    train, test = ds.pool_index(), ds.split_index("test")
    rows = [
        {"subject": "images", "measure": k, "value": v}
        for k, v in image_measures(ds.images, labels, train, test).items()
    ]
    ids = ds.manifest["id"].astype(str).tolist()
    for prompt, path in captions.items():
        found = caption_measures(load_captions(path, ids), labels, train, test)
        rows += [{"subject": f"captions:{prompt}", "measure": k, "value": v} for k, v in found.items()]
    table = pd.DataFrame(rows, columns=["subject", "measure", "value"])
    write_csv(out_csv, table)
    return table
