"""User-supplied image folders: PNG and FITS through the data stage, and errors that name the row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from morphalign.artifacts import load_dataset
from morphalign.data.folder import build, centre_crop, sigma_clip_to_uint8
from morphalign.data.sources import make_dataset
from morphalign.errors import MorphalignError


def _fits(path, data):
    from astropy.io import fits

    fits.PrimaryHDU(data=data).writeto(path)


@pytest.fixture
def image_set(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    rows = []
    for i in range(12):
        label = "bent" if i % 2 else "straight"
        if i % 3 == 0:
            sky = rng.normal(0, 1e-4, size=(1, 200, 180))  # a degenerate axis, as survey cut-outs often have
            sky[0, 100, 90] = 0.05
            sky[0, 5:8, 5:8] = np.nan  # blanked pixels
            name = f"src{i}.fits"
            _fits(folder / name, sky.astype(np.float32))
        else:
            img = (rng.random((120, 160)) * 40).astype(np.uint8)
            img[60, 80] = 255
            name = f"src{i}.png"
            Image.fromarray(img).convert("RGB").save(folder / name)
        rows.append({"file": name, "label": label, "split": "test" if i >= 9 else "train"})
    csv = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return folder, csv


def test_png_and_fits_through_the_data_stage(image_set, tmp_path):
    folder, csv = image_set
    cfg = {
        "source": "folder",
        "val_size": 2,
        "val_seed": 1,
        "folder": {
            "images_dir": str(folder),
            "labels_csv": str(csv),
            "crop_size": 150,
            "clip_sigma": 3.0,
            "classes": None,
            "test_size": 0,
            "test_seed": 0,
        },
    }
    make_dataset(tmp_path / "ds", cfg, download_dir=tmp_path / "dl")
    ds = load_dataset(tmp_path / "ds")
    assert ds.images.shape == (12, 150, 150) and ds.images.dtype == np.uint8
    assert ds.manifest["split"].value_counts().to_dict() == {"train": 7, "test": 3, "val": 2}
    assert dict(zip(ds.manifest.label_name, ds.manifest.label, strict=True)) == {"bent": 0, "straight": 1}
    fits_img = ds.images[0]
    assert fits_img.max() == 255 and (fits_img == 0).mean() > 0.9  # sigma-clipped background
    assert fits_img[75, 75] == 255  # the source at the cut-out centre stays at the centre


def test_clip_and_crop_helpers():
    data = np.zeros((10, 10))
    data[5, 5] = 1.0
    data[0, 0] = np.nan
    out = sigma_clip_to_uint8(data, 3.0)
    assert out[5, 5] == 255 and out[0, 0] == 0 and out.dtype == np.uint8
    assert centre_crop(np.ones((4, 6)), 8).sum() == 24  # padded, not stretched
    assert centre_crop(np.arange(100).reshape(10, 10), 2).tolist() == [[44, 45], [54, 55]]


def _rewrite(csv, edit):
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    edit(table)
    table.to_csv(csv, index=False)


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            lambda t: t.__setitem__("file", t["file"].where(t.index != 2, "gone.png")),
            r"row 4 \('gone.png'\): file not found",
        ),
        (lambda t: t.__setitem__("label", t["label"].where(t.index != 0, "spiral")), r"row 2 .*unknown label 'spiral'"),
        (lambda t: t.__setitem__("split", t["split"].where(t.index != 5, "holdout")), r"row 7 .*split 'holdout'"),
    ],
)
def test_broken_rows_are_named(image_set, edit, message):
    folder, csv = image_set
    _rewrite(csv, edit)
    with pytest.raises(MorphalignError, match=message):
        build(folder, csv, classes=["bent", "straight"])


def test_unreadable_image_named(image_set):
    folder, csv = image_set
    (folder / "src1.png").write_bytes(b"not a png")
    (folder / "src3.fits").write_bytes(b"SIMPLE  = garbage")
    with pytest.raises(MorphalignError, match=r"row 3 \('src1.png'\): unreadable image .*\(and 1 more\)"):
        build(folder, csv)


def test_missing_columns_and_split(image_set):
    folder, csv = image_set
    _rewrite(csv, lambda t: t.drop(columns=["label"], inplace=True))
    with pytest.raises(MorphalignError, match="missing column 'label'"):
        build(folder, csv)


def test_drawn_test_set_without_split_column(image_set):
    folder, csv = image_set
    _rewrite(csv, lambda t: t.drop(columns=["split"], inplace=True))
    with pytest.raises(MorphalignError, match=r"set dataset\.folder\.test_size"):
        build(folder, csv)
    _, man = build(folder, csv, test_size=4, val_size=2)
    assert man.split.value_counts().to_dict() == {"train": 6, "test": 4, "val": 2}
