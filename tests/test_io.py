"""Atomic outputs: the rename, and the mode a result gets."""

from __future__ import annotations

import os
import stat

import pytest

from morphalign.io import atomic_path, umask, write_json


@pytest.fixture(params=[0o022, 0o027, 0o002])
def mask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_outputs_get_the_umask_mode_not_the_temporary_files_0600(tmp_path, mask):
    assert umask() == mask
    write_json(tmp_path / "metrics.json", {"a": 1})
    with atomic_path(tmp_path / "model", directory=True) as tmp:
        (tmp / "weights.bin").write_bytes(b"x")
    plain = tmp_path / "plain"
    plain.write_text("any new file")
    plain_dir = tmp_path / "plain_dir"
    plain_dir.mkdir()
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == stat.S_IMODE(plain_dir.stat().st_mode)
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o777 & ~mask
