"""Bad input is refused early, with a message that names the key, file or row (issue 14; more cases to come).

Each case gives the input, a fragment of the expected message, and checks that the config is refused before any job
runs. One case runs the whole workflow's planning (`snakemake -n`) to check the exit status and that nothing was
written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from morphalign.config import validate_config
from morphalign.errors import MorphalignError

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _default() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _overrides(tmp_path: Path, text: str) -> str:
    path = tmp_path / "overrides.csv"
    path.write_text(text)
    return str(path)


CASES = [
    (
        "seeds not a count or list",
        lambda c, t: c.update(seeds="abc"),
        r"seeds: 'abc' is not valid: give a count n >= 1",
    ),
    ("seeds list with a negative", lambda c, t: c.update(seeds=[0, -1]), r"or a list of distinct integers >= 0"),
    (
        "main prompt typo",
        lambda c, t: c["report"].update(main_prompt="curatd"),
        r"report.main_prompt: no prompt named 'curatd'; prompts: \['control', 'curated'\]",
    ),
    (
        "reference prompt typo",
        lambda c, t: c["report"].update(reference_prompt="contrl"),
        r"report.reference_prompt: no prompt named 'contrl'",
    ),
    (
        "override row for an unknown prompt",
        lambda c, t: c.setdefault("captioning", {}).update(
            overrides=_overrides(t, "id,prompt,caption,note\nsyn-test-00001,curated,ok,\nsyn-test-00002,curatd,x,\n")
        ),
        r"overrides.csv: row 3: prompt 'curatd' is not configured",
    ),
    (
        "empty overrides file",
        lambda c, t: c.setdefault("captioning", {}).update(overrides=_overrides(t, "")),
        r"overrides.csv: the file is empty",
    ),
    (
        "malformed overrides row",
        lambda c, t: c.setdefault("captioning", {}).update(
            overrides=_overrides(t, "id,prompt,caption\na,curated,x,extra\n")
        ),
        r"overrides.csv: row 2 has 4 fields, the header 3",
    ),
    (
        "overrides without a prompt column",
        lambda c, t: c.setdefault("captioning", {}).update(overrides=_overrides(t, "id,caption\na,x\n")),
        r"overrides.csv: no 'prompt' column",
    ),
    (
        "overrides file missing",
        lambda c, t: c.setdefault("captioning", {}).update(overrides=str(t / "nope.csv")),
        r"captioning.overrides: .*nope.csv not found",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "message"), CASES, ids=[c[0] for c in CASES])
def test_config_is_refused_with_a_clear_message(tmp_path, case, mutate, message):
    cfg = _default()
    mutate(cfg, tmp_path)
    with pytest.raises(MorphalignError, match=message):
        validate_config(cfg, SCHEMA)


def test_single_prompt_needs_no_reference():
    cfg = _default()
    cfg["prompts"] = {"curated": cfg["prompts"]["curated"]}
    validate_config(cfg, SCHEMA)  # nothing to subtract: the default reference_prompt is not an error


def test_workflow_planning_refuses_a_main_prompt_typo(tmp_path):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"report": {"main_prompt": "curatd"}}))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n"]
    cmd += ["--configfile", str(REPO / "config" / "config.yaml"), str(tmp_path / "bad.yaml")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode != 0
    assert "report.main_prompt: no prompt named 'curatd'" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()
