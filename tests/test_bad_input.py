"""Bad input is refused early, with a message that names the key, file or row (issue 14; more cases to come).

Each case gives the input, a fragment of the expected message, and checks that the config is refused before any job
runs. One case runs the whole workflow's planning (`snakemake -n`) to check the exit status and that nothing was
written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO
from morphalign.config import coerce_strings, load_schema, validate_config
from morphalign.errors import MorphalignError

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _default() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _overrides(text: str | None):
    """A config edit pointing captioning.overrides at a file holding `text` (None: a file that does not exist)."""

    def edit(cfg: dict, tmp_path: Path) -> None:
        path = tmp_path / ("overrides.csv" if text is not None else "nope.csv")
        if text is not None:
            path.write_text(text)
        cfg.setdefault("captioning", {})["overrides"] = str(path)

    return edit


def _folder_knn(csv_text: str, knn_k: int, test_size: int = 0):
    """A config edit: a folder dataset with this labels CSV, and this many k-NN neighbours."""

    def edit(cfg, tmp_path):
        (tmp_path / "labels.csv").write_text(csv_text)
        folder = {"images_dir": str(tmp_path), "labels_csv": str(tmp_path / "labels.csv"), "test_size": test_size}
        cfg["dataset"].update(source="folder", folder=folder)
        cfg["evaluate"].update(knn_k=knn_k)

    return edit


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
        r"report.main_prompt: no prompt named 'curatd'; prompts: \['control', 'curated', 'curated_shuffled', "
        r"'curated_shuffled_in_class'\]",
    ),
    (
        "reference prompt typo",
        lambda c, t: c["report"].update(reference_prompt="contrl"),
        r"report.reference_prompt: no prompt named 'contrl'",
    ),
    (
        "override row for an unknown prompt",
        _overrides("id,prompt,caption,note\nsyn-test-00001,curated,ok,\nsyn-test-00002,curatd,x,\n"),
        r"overrides.csv: row 3: prompt 'curatd' is not configured",
    ),
    (
        "empty overrides file",
        _overrides(""),
        r"overrides.csv: the file is empty",
    ),
    (
        "malformed overrides row",
        _overrides("id,prompt,caption\na,curated,x,extra\n"),
        r"overrides.csv: row 2 has 4 fields, the header 3",
    ),
    (
        "overrides without a prompt column",
        _overrides("id,caption\na,x\n"),
        r"overrides.csv: no 'prompt' column",
    ),
    (
        "overrides file missing",
        _overrides(None),
        r"captioning.overrides: .*nope.csv not found",
    ),
    (
        "knn_k above the synthetic training pool",
        lambda c, t: (
            c["dataset"].update(val_size=10),
            c["dataset"]["synthetic"].update(n_train=40),
            c["evaluate"].update(knn_k=41),
        ),
        r"evaluate.knn_k is 41 but the training pool \(train \+ val\) the k-NN probe is fitted on holds 40 images",
    ),
    (
        "knn_k above a folder dataset's training pool",
        _folder_knn("file,label,split\na.png,x,train\nb.png,y,val\nc.png,x,test\n", knn_k=3),
        r"evaluate.knn_k is 3 but .* holds 2 images; use at most 2",
    ),
    (
        "knn_k above a drawn folder pool",
        _folder_knn("file,label\na.png,x\nb.png,y\nc.png,x\nd.png,y\n", knn_k=4, test_size=1),
        r"evaluate.knn_k is 4 but .* holds 3 images",
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


def _plan(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n"]
    cmd += ["--configfile", str(REPO / "config" / "config.yaml"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_a_config_file_drops_an_inherited_prompt(tmp_path):
    (tmp_path / "one.yaml").write_text(yaml.safe_dump({"prompts": {"control": {"enabled": False}}}))
    done = _plan(tmp_path, str(tmp_path / "one.yaml"))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-2000:]
    assert "prompt=curated" in out and "prompt=control" not in out and "control/frozen" not in out


@pytest.mark.parametrize(
    ("prompts", "report", "message"),
    [
        ({"control": {"enabled": False}, "curated": {"enabled": False}}, {}, r"every prompt is disabled"),
        ({"curated": {"enabled": False}}, {}, r"report.main_prompt: prompt 'curated' is disabled \(enabled: false\)"),
    ],
)
def test_disabled_prompts_are_named(prompts, report, message):
    cfg = _default()
    for name, change in prompts.items():
        cfg["prompts"][name].update(change)
    cfg["report"].update(report)
    with pytest.raises(MorphalignError, match=message):
        validate_config(cfg, SCHEMA)


def test_nested_command_line_overrides_reach_the_schema_as_their_type(tmp_path):
    """Snakemake passes `--config 'train={"lr": 0.005}'` values as strings; they are read as the schema's type."""
    override = 'train={"lr": 0.005, "max_epochs": 3, "restore_best": false, "grad_clip": null}'
    done = _plan(tmp_path, "--config", override, "--printshellcmds")
    assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
    cfg = coerce_strings(
        {"train": {"lr": "0.005", "max_epochs": "3", "restore_best": "false", "grad_clip": "null"},
         "prompts": {"p": {"text": "123", "backend": "describer"}}, "seeds": "3"},
        load_schema(SCHEMA),
    )  # fmt: skip
    assert cfg["train"] == {"lr": 0.005, "max_epochs": 3, "restore_best": False, "grad_clip": None}
    assert cfg["prompts"]["p"]["text"] == "123"  # a string where the schema wants a string
    assert cfg["seeds"] == "3"  # several types allowed (count or list): left for validation to name
    bad = _plan(tmp_path, "--config", 'train={"max_epochs": "3.5"}')
    assert "train.max_epochs: '3.5' is not of type 'integer'" in bad.stdout + bad.stderr


# ---------------------------------------------------------------- folder datasets


def _folder(tmp_path: Path, rows: list[tuple[str, str, str]], csv_text: str | None = None) -> tuple[Path, Path]:
    """PNG images (distinct content per file name) and a labels CSV of (file, label, split) rows."""
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir(exist_ok=True)
    for name, _, _ in rows:
        img = np.zeros((150, 150), np.uint8)
        img[70:80, 70:80] = 200
        img[0, sum(map(ord, name)) % 150] = 90  # one pixel that differs by name
        Image.fromarray(img).save(folder / name)
    csv = tmp_path / "labels.csv"
    csv.write_text(
        csv_text if csv_text is not None else "file,label,split\n" + "".join(f"{f},{lab},{sp}\n" for f, lab, sp in rows)
    )
    return folder, csv


TWO_CLASSES = [("a.png", "FR-I", "train"), ("b.png", "FR-II", "train"), ("c.png", "FR-I", "test")]

FOLDER_CASES = [
    (
        "one class",
        [("a.png", "FR-I", "train"), ("b.png", "FR-I", "test")],
        None,
        r"one class only \(\['FR-I'\]\); a classifier needs at least two",
    ),
    ("file listed twice", [*TWO_CLASSES, ("a.png", "FR-I", "test")], None, r"file 'a.png' is listed in rows 2 and 5"),
    ("empty labels CSV", TWO_CLASSES, "", r"labels.csv: the file is empty"),
    ("malformed labels CSV", TWO_CLASSES, 'file,label\n"a.png,FR-I\n', r"labels.csv: not a valid CSV"),
]


@pytest.mark.parametrize(("case", "rows", "csv_text", "message"), FOLDER_CASES, ids=[c[0] for c in FOLDER_CASES])
def test_folder_dataset_is_refused_with_the_row_named(tmp_path, case, rows, csv_text, message):
    from morphalign.data.folder import build

    folder, csv = _folder(tmp_path, rows, csv_text)
    with pytest.raises(MorphalignError, match=message):
        build(folder, csv)


def test_same_image_content_in_two_splits_is_refused(tmp_path):
    from morphalign.data.folder import build

    folder, csv = _folder(tmp_path, TWO_CLASSES)
    (folder / "copy.png").write_bytes((folder / "c.png").read_bytes())  # a test image, renamed, in training
    csv.write_text(csv.read_text() + "copy.png,FR-I,train\n")
    with pytest.raises(MorphalignError, match=r"rows 4 \('c.png', test\) and 5 \('copy.png', train\) hold the same"):
        build(folder, csv)


def test_labels_are_stripped_not_a_third_class(tmp_path):
    from morphalign.data.folder import build

    folder, csv = _folder(
        tmp_path, TWO_CLASSES, "file,label,split\na.png, FR-I,train\nb.png,FR-II ,train\nc.png,FR-I,test\n"
    )
    _, manifest = build(folder, csv)
    assert sorted(set(manifest["label_name"])) == ["FR-I", "FR-II"] and manifest["label"].tolist() == [0, 1, 0]


def test_sixteen_bit_png_keeps_its_grey_levels(tmp_path):
    from PIL import Image

    from morphalign.data.folder import build

    folder, csv = _folder(tmp_path, TWO_CLASSES)
    deep = np.zeros((150, 150), np.uint16)
    deep[50:100, 50:100] = np.arange(50)[None, :] * 1000 + 3000  # 50 grey levels, all above the clip
    Image.fromarray(deep).save(folder / "a.png")  # mode I;16
    images, _ = build(folder, csv)
    assert len(np.unique(images[0])) > 40  # not binarised to {0, 255}


def test_small_and_constant_images_are_counted_in_a_warning(tmp_path):
    from PIL import Image

    from morphalign.data.folder import build

    folder, csv = _folder(tmp_path, TWO_CLASSES)
    Image.fromarray(np.arange(400, dtype=np.uint8).reshape(20, 20)).save(folder / "b.png")
    Image.fromarray(np.full((150, 150), 7, np.uint8)).save(folder / "c.png")
    with pytest.warns(UserWarning) as caught:
        build(folder, csv)
    text = " ".join(str(w.message) for w in caught)
    assert "1 image(s) smaller than the 150 px crop (zero-padded): rows 3" in text
    assert "1 image(s) of one constant value: rows 4" in text


def test_a_failed_write_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    """numpy's own message on a full disk is only byte counts; the error must say which file."""
    import numpy as np

    from morphalign.errors import MorphalignError
    from morphalign.io import save_npy

    def disk_full(fh, array, **kwargs):
        fh.write(b"partial")
        raise OSError("5850000 requested and 3071872 written")

    monkeypatch.setattr(np, "save", disk_full)
    target = tmp_path / "cache" / "pixels.npy"
    with pytest.raises(MorphalignError, match=r"cache/pixels\.npy: could not be written \(5850000 requested"):
        save_npy(target, np.zeros((2, 2), np.uint8))
    assert list((tmp_path / "cache").iterdir()) == []  # neither the file nor its temporary sibling


def test_an_unwritable_folder_names_the_file(tmp_path):
    from morphalign.errors import MorphalignError
    from morphalign.io import write_json

    (tmp_path / "blocked").write_text("a file where a folder should be")
    with pytest.raises(MorphalignError, match=r"blocked/metrics\.json: could not be written"):
        write_json(tmp_path / "blocked" / "metrics.json", {"a": 1})


def test_a_missing_relative_folder_is_said_to_be_taken_for_a_hub_id(tmp_path, monkeypatch):
    from morphalign.errors import MorphalignError
    from morphalign.model.load import load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        MorphalignError, match=r"taken for a Hugging Face Hub id, as no folder .*models/siglip exists"
    ) as err:
        load_model("models/siglip", cache_dir=str(tmp_path / "cache"))
    assert "write it as ./models/siglip" in str(err.value)


def test_knn_k_above_the_pool_is_named_at_evaluation_too():
    """A folder dataset without a split column draws its test split at run time; evaluate checks again."""
    from morphalign.evaluate.metrics import EvalSettings, predictions

    rng = np.random.default_rng(0)
    arrays = {
        "train_image": rng.normal(size=(4, 3)),
        "train_text": rng.normal(size=(4, 3)),
        "test_image": rng.normal(size=(2, 3)),
        "test_text": rng.normal(size=(2, 3)),
        "train_label": np.array([0, 1, 0, 1]),
        "test_label": np.array([0, 1]),
    }
    with pytest.raises(MorphalignError, match=r"evaluate.knn_k is 5 but the training pool holds 4 embeddings"):
        predictions(arrays, EvalSettings(knn_k=5))


def test_a_control_goes_with_the_prompt_it_shuffles():
    """Disabling the default's `curated` drops its two shuffled controls too, and names them."""
    cfg = _default()
    cfg["prompts"]["curated"]["enabled"] = False
    cfg["report"].update(main_prompt="control")
    out = validate_config(cfg, SCHEMA)
    assert list(out["prompts"]) == ["control"]
    cfg = _default()
    for name in ("control", "curated"):
        cfg["prompts"][name]["enabled"] = False
    with pytest.raises(MorphalignError, match=r"every prompt is disabled \(\['control', 'curated', 'curated_shuffled'"):
        validate_config(cfg, SCHEMA)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "--run-json: not valid JSON"), ("[1, 2]", "--run-json: expected a JSON object, got list")],
)
def test_inline_run_settings_that_are_not_a_json_object_are_named(tmp_path, text, message):
    """The CLIs take a run's settings inline (the workflow's --run-json): bad text is one clear error, exit 1."""
    cmd = [sys.executable, "-m", "morphalign.embed", "--run-json", text, "--model", "m", "--dataset", "d"]
    cmd += ["--pixels", "p", "--tokens", "t", "--out", str(tmp_path / "e.npz")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 1 and f"error: {message}" in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "e.npz").exists()


def test_inline_run_settings_equal_the_file(tmp_path):
    """`--run-json` and `--run-config` give the CLIs the same settings."""
    import argparse
    import json

    from morphalign.scripting import add_run_settings, run_settings

    ap = argparse.ArgumentParser()
    add_run_settings(ap)
    data = {"run": {"prompt": "curated", "target": "text", "seed": 0}, "prompt_text": "it's a > b"}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    assert run_settings(ap.parse_args(["--run-json", json.dumps(data)]))[0] == data
    assert run_settings(ap.parse_args(["--run-config", str(path)]))[0] == data
    with pytest.raises(SystemExit):  # one or the other, not both
        ap.parse_args(["--run-json", "{}", "--run-config", str(path)])
