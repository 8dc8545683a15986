"""The suite's own parallelism: pytest-xdist keeps the tests of one `xdist_group` in one process.

pyproject's addopts run the tests in up to 4 processes with `--dist loadgroup`; the SLURM tests share one cluster
and the tests of the default share one run of it only because their group holds. On pytest 9.2 the grouping stops
silently (pytest-dev/pytest-xdist#1386: tests are spread as if unmarked), so pyproject pins pytest below 9.2, and
this test fails if an upgrade breaks it again.
"""

from __future__ import annotations

import subprocess
import sys

GROUPED = """
import os
import pytest

pytestmark = pytest.mark.xdist_group("together")


@pytest.mark.parametrize("i", range(6))
def test_grouped(i, tmp_path_factory):
    (tmp_path_factory.getbasetemp().parent.parent / f"grouped{i}").write_text(os.environ["PYTEST_XDIST_WORKER"])
"""

LOOSE = """
import time

import pytest


@pytest.mark.parametrize("i", range(6))
def test_loose(i):
    time.sleep(0.2)
"""


def test_a_group_stays_in_one_process(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_grouped.py").write_text(GROUPED)
    (suite / "test_loose.py").write_text(LOOSE)
    out = tmp_path / "out"  # each worker's temporary folder is out/base/popen-gwN
    out.mkdir()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup"]
    cmd += ["--basetemp", str(out / "base"), "--rootdir", str(suite), str(suite)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=suite)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    workers = {(out / f"grouped{i}").read_text() for i in range(6)}
    assert len(workers) == 1, f"the group ran in {sorted(workers)}"


def test_every_test_of_the_default_joins_its_group():
    """conftest puts each test that uses `default_run`, through any fixture, in the group and marks it (none is marked
    by hand)."""
    from types import SimpleNamespace

    import pytest

    from conftest import pytest_collection_modifyitems

    class Item(SimpleNamespace):
        def add_marker(self, mark):
            self.marks.append(mark)

    uses = Item(fixturenames=["results", "default_run", "tmp_path"], marks=[])
    other = Item(fixturenames=["tmp_path"], marks=[])
    pytest_collection_modifyitems(None, [uses, other])
    assert uses.marks == [pytest.mark.xdist_group("default_run"), pytest.mark.default_run] and other.marks == []
