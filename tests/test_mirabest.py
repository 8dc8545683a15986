"""MiraBest from the official archive: counts, labels, order, splits, and refusal of tampered files."""

from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile

import numpy as np
import pytest

from conftest import MIRABEST_F, need_shared
from morphalign.data import mirabest
from morphalign.download import digest
from morphalign.errors import MorphalignError


@pytest.fixture(scope="module")
def archive():
    return need_shared(MIRABEST_F)


@pytest.fixture(scope="module")
def confident(archive):
    return mirabest.build(archive, mirabest.RELEASES["F"])


def test_confident_counts_and_labels(confident):
    images, man = confident
    assert images.shape == (833, 150, 150) and images.dtype == np.uint8
    pool, test = man[man.split != "test"], man[man.split == "test"]
    assert len(pool) == 729 and pool.label.value_counts().to_dict() == {0: 348, 1: 381}
    assert len(test) == 104 and test.label.value_counts().to_dict() == {0: 49, 1: 55}
    assert (man.split == "val").sum() == 100
    assert set(man.loc[man.label == 0, "class_code"]) <= {100, 102, 104}
    assert set(man.loc[man.label == 1, "class_code"]) <= {200, 201}
    assert set(man.label_name) == {"FR-I", "FR-II"}
    # the file name starts with the 3-digit code it was labelled with
    assert (man.source_file.str[:3].astype(int) == man.class_code).all()


def test_source_order_is_kept(confident, archive):
    _, man = confident
    batches = [f"data_batch_{i}" for i in range(1, 8)] + ["test_batch"]
    order = man.batch.map(batches.index).to_numpy() * 1000 + man.position.to_numpy()
    assert np.all(np.diff(order) > 0)
    assert man.split.iloc[-104:].eq("test").all()
    # compare with the archive read independently (trusted file, checksum known)
    with tarfile.open(archive) as tar:
        raw = pickle.loads(tar.extractfile("F_batches/data_batch_1").read(), encoding="latin1")
    keep = [i for i, lab in enumerate(raw["labels"]) if lab in (0, 1, 2, 5, 6)]
    first = man[man.batch == "data_batch_1"]
    assert first.position.tolist() == keep
    assert first.source_file.tolist() == [str(raw["filenames"][i]).rsplit("/", 1)[-1] for i in keep]
    images, _ = confident
    assert np.array_equal(images[0], np.asarray(raw["data"][keep[0]]))


def test_uncertain_and_code_labels(archive):
    _, man = mirabest.build(archive, mirabest.RELEASES["F"], include_uncertain=True)
    assert len(man) > 833 and set(man.confidence) == {"confident", "uncertain"}
    assert set(man.loc[man.class_code.isin([110, 112]), "label"]) == {0}
    assert set(man.loc[man.class_code == 210, "label"]) == {1}
    _, codes = mirabest.build(archive, mirabest.RELEASES["F"], label_scheme="code")
    assert len(codes) == 833 and set(codes.label_name) <= {"100", "102", "104", "200", "201"}
    assert (codes.label_name.astype(int) == codes.class_code).all()


def test_paper_code_split(archive):
    import torch

    _, man = mirabest.build(archive, mirabest.RELEASES["F"], val_size=109, val_method="paper_code")
    assert man.split.value_counts().to_dict() == {"train": 620, "val": 109, "test": 104}
    _, val = torch.utils.data.random_split(range(729), [620, 109], generator=torch.Generator().manual_seed(42))
    pool = np.flatnonzero(man.split.isin(["train", "val"]).to_numpy())
    assert sorted(pool[np.asarray(list(val))].tolist()) == np.flatnonzero(man.split == "val").tolist()


def _repack(archive, tmp_path, edit):
    """A copy of the archive with one member's bytes changed by `edit`."""
    out = tmp_path / "MiraBest_F_batches.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if data is not None:
                data = edit(m.name, data)
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    return out


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(mirabest, "safe_unpickle", refuse)


def test_wrong_archive_md5(archive, no_unpickling):
    spec = dataclasses.replace(mirabest.RELEASES["F"], md5="0" * 32)
    with pytest.raises(MorphalignError, match=r"MiraBest_F_batches.tar.gz: md5 checksum mismatch"):
        mirabest.build(archive, spec)


def test_tampered_archive(archive, tmp_path, no_unpickling):
    def flip(name, data):
        return data[:1000] + bytes([data[1000] ^ 1]) + data[1001:] if name.endswith("data_batch_3") else data

    bad = _repack(archive, tmp_path, flip)
    with pytest.raises(MorphalignError, match="md5 checksum mismatch"):
        mirabest.build(bad, mirabest.RELEASES["F"])
    # even with the archive's own checksum accepted, the batch checksum refuses it before unpickling
    spec = dataclasses.replace(mirabest.RELEASES["F"], md5=digest(bad, "md5"))
    with pytest.raises(
        MorphalignError, match=r"F_batches/data_batch_3: md5 checksum mismatch .*no batch was unpickled"
    ):
        mirabest.build(bad, spec)


def test_truncated_batch(archive, tmp_path, no_unpickling):
    bad = _repack(archive, tmp_path, lambda n, d: d[: len(d) // 2] if n.endswith("test_batch") else d)
    spec = dataclasses.replace(mirabest.RELEASES["F"], md5=digest(bad, "md5"))
    with pytest.raises(MorphalignError, match=r"test_batch: md5 checksum mismatch"):
        mirabest.build(bad, spec)


def test_truncated_archive(archive, tmp_path, no_unpickling):
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[:200_000])
    spec = dataclasses.replace(mirabest.RELEASES["F"], md5=digest(cut, "md5"))
    with pytest.raises(MorphalignError, match=r"cut.tar.gz: not a readable .tar.gz archive"):
        mirabest.build(cut, spec)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_restricted_unpickler_executes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps({"data": [], "labels": [], "filenames": [], "x": _Evil()})
    with pytest.raises(MorphalignError, match=r"global '(posix|os)\.system' is not allowed"):
        mirabest.safe_unpickle(payload, "evil")
    assert not (tmp_path / "pwned").exists()
    # a numpy-only batch is admitted
    ok = pickle.dumps({"data": [np.zeros((150, 150), np.uint8)], "labels": [0], "filenames": [np.str_("a.png")]})
    assert mirabest.safe_unpickle(ok, "ok")["labels"] == [0]


def test_unknown_release():
    with pytest.raises(MorphalignError, match="release: 'G' is unknown"):
        mirabest.fetch_archive("G", ".", None)
