"""The dataset format: clear errors for broken folders, and atomic writes."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from morphalign.artifacts import load_dataset, write_dataset
from morphalign.errors import MorphalignError
from morphalign.io import atomic_path


@pytest.fixture
def copy_of(small_dataset, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(small_dataset, dst)
    return dst


def test_roundtrip(small_dataset):
    ds = load_dataset(small_dataset)
    assert ds.images.shape == (64, 150, 150)
    assert len(ds.split_index("val")) == 12 and len(ds.split_index("test")) == 16
    assert len(ds.pool_index()) == 48


def test_corrupt_images(copy_of):
    (copy_of / "images.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(MorphalignError, match=r"images.npy: not a readable .npy"):
        load_dataset(copy_of)


def test_truncated_images(copy_of):
    data = (copy_of / "images.npy").read_bytes()
    (copy_of / "images.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(MorphalignError, match=r"images.npy"):
        load_dataset(copy_of)


def test_wrong_dtype(copy_of):
    np.save(copy_of / "images.npy", np.zeros((64, 150, 150), dtype=np.float32))
    with pytest.raises(MorphalignError, match="expected uint8"):
        load_dataset(copy_of)


def test_count_mismatch(copy_of):
    man = pd.read_csv(copy_of / "manifest.csv")
    man.iloc[:-3].to_csv(copy_of / "manifest.csv", index=False)
    with pytest.raises(MorphalignError, match=r"manifest.csv: manifest has 61 rows but images.npy holds 64"):
        load_dataset(copy_of)


def test_bad_split_named(copy_of):
    man = pd.read_csv(copy_of / "manifest.csv")
    man.loc[5, "split"] = "training"
    man.to_csv(copy_of / "manifest.csv", index=False)
    with pytest.raises(MorphalignError, match=r"row 5 has split 'training'"):
        load_dataset(copy_of)


def test_missing_column(copy_of):
    man = pd.read_csv(copy_of / "manifest.csv").drop(columns=["label_name"])
    man.to_csv(copy_of / "manifest.csv", index=False)
    with pytest.raises(MorphalignError, match=r"label_name"):
        load_dataset(copy_of)


def test_missing_file(tmp_path):
    with pytest.raises(MorphalignError, match=r"images.npy: file not found"):
        load_dataset(tmp_path)


def test_write_rejects_bad_input_and_leaves_nothing(tmp_path):
    images = np.zeros((3, 150, 150), np.uint8)
    man = pd.DataFrame({"id": ["a", "b"], "label": [0, 1], "label_name": ["FR-I", "FR-II"], "split": ["train", "test"]})
    with pytest.raises(MorphalignError, match=r"2 rows but images\.npy holds 3"):
        write_dataset(tmp_path / "ds", images, man)
    assert not (tmp_path / "ds" / "images.npy").exists()


def test_atomic_path_cleans_up_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_path(tmp_path / "folder", directory=True) as tmp:
        (tmp / "a").write_text("x")
    assert (tmp_path / "folder" / "a").read_text() == "x"
