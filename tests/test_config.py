"""Config validation: defaults, clear errors for bad configs, per-run settings."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO, SCHEMA
from morphalign.config import dataset_settings, run_config, seeds, validate_config
from morphalign.errors import MorphalignError
from morphalign.runs import Run, RunConfig


def test_defaults():
    """r, alpha, dropout, lr and epochs are the paper's text; it names no LoRA modules, q/k/v/out is our choice."""
    cfg = validate_config({}, SCHEMA)
    assert cfg["lora"] == {
        "r": 8,
        "alpha": 16,
        "dropout": 0.1,
        "target_modules": ["q_proj", "k_proj", "v_proj", "out_proj"],
        "scope": "encoder",
        "train_logit_params": False,
    }
    assert cfg["train"]["lr"] == 2.5e-5 and cfg["train"]["max_epochs"] == 50
    assert cfg["preprocess"] == {"pixel_norm": "siglip", "max_length": 64, "lowercase": True}
    assert set(cfg["prompts"]) == {"control", "curated"}
    assert cfg["prompts"]["control"]["text"] == (
        "Please use 50 words or less to write a caption describing this image."
    )


@pytest.mark.parametrize("name", ["config.yaml", "paper_code.yaml"])
def test_shipped_configs_validate(name):
    validate_config(yaml.safe_load((REPO / "config" / name).read_text()), SCHEMA)


def test_paper_code_sets_every_reference_definition():
    cfg = validate_config(yaml.safe_load((REPO / "config" / "paper_code.yaml").read_text()), SCHEMA)
    assert cfg["evaluate"]["f1_average"] == "binary" and cfg["evaluate"]["positive_class"] == 1
    assert cfg["evaluate"]["probe"] == "torch_adam"
    assert cfg["train"]["loss_reduction"] == "mean" and cfg["preprocess"]["lowercase"] is False
    assert set(cfg["lora"]["target_modules"]) == {"q_proj", "k_proj", "v_proj", "fc1", "fc2"}
    assert cfg["lora"]["r"] == 4 and cfg["lora"]["scope"] == "anywhere"


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"trian": {}}, r"\(top level\).*'trian' was unexpected.*unknown key"),
        ({"train": {"learning_rate": 1}}, r"train: .*'learning_rate' was unexpected"),
        ({"targets": ["vision", "tower"]}, r"targets.1: 'tower' is not one of"),
        (
            {"prompts": {"x": {"text": "", "backend": "describer", "style": "control"}}},
            r"prompts.x.text: a prompt needs",
        ),
        ({"prompts": {"x": {"text": "   ", "backend": "describer", "style": "control"}}}, r"prompts.x.text"),
        ({"prompts": {"x": {"backend": "describer"}}}, r"prompts.x: 'text' is a required property"),
        ({"prompts": {"x": {"text": "hi", "backend": "gpt"}}}, r"prompts.x.backend: 'gpt' is not one of"),
        ({"prompts": {"x": {"text": "hi", "backend": "describer"}}}, r"prompts.x.style is required"),
        ({"train": {"lr": "fast"}}, r"train.lr: 'fast' is not of type 'number'"),
        ({"seeds": []}, r"seeds"),
        ({"train": {"lr_by_run": {"nope/text": 1e-5}}}, r"lr_by_run.nope/text: no prompt named 'nope'"),
        ({"dataset": {"val_size": 800}}, r"val_size must be below"),
    ],
)
def test_bad_configs_named(bad, message):
    with pytest.raises(MorphalignError, match=message):
        validate_config(bad, SCHEMA)


def test_seeds_as_count_or_list():
    assert seeds(validate_config({"seeds": 3}, SCHEMA)) == [0, 1, 2]
    assert seeds(validate_config({"seeds": [5, 9]}, SCHEMA)) == [5, 9]


def test_run_config_resolves_lr_by_run():
    cfg = validate_config({"train": {"lr_by_run": {"control/text": 5e-6}}}, SCHEMA)
    assert run_config(cfg, Run("control", "text", 0))["train"]["lr"] == 5e-6
    assert run_config(cfg, Run("control", "vision", 0))["train"]["lr"] == 2.5e-5
    assert run_config(cfg, Run("curated", "text", 1))["train"]["lr"] == 2.5e-5
    frozen = run_config(cfg, Run("curated", "frozen"))
    assert frozen["train"] is None and frozen["lora"] is None and frozen["seed"] is None
    assert run_config(cfg, Run("curated", "text", 1))["model"] == "tiny"


def test_run_config_round_trips_and_holds_no_location():
    """run.json is what a run is, never where things are: no cache folder, mirror or model path."""
    cfg = validate_config({"model": {"cache_dir": "/somewhere/hf"}, "data_mirror": "/mirror"}, SCHEMA)
    data = run_config(cfg, Run("curated", "full", 2))
    assert RunConfig.from_dict(data).to_dict() == data
    assert "/somewhere" not in str(data) and "/mirror" not in str(data)
    with pytest.raises(MorphalignError, match=r"run.json: preprocess: missing key\(s\) \['lowercase'\]"):
        RunConfig.from_dict({**data, "preprocess": {"pixel_norm": "siglip", "max_length": 64}}, "run.json")


def test_dataset_settings_hold_the_selected_source_only():
    cfg = validate_config({"dataset": {"folder": {"crop_size": 99}}}, SCHEMA)
    settings = dataset_settings(cfg)
    assert settings["source"] == "synthetic" and "synthetic" in settings
    assert "folder" not in settings and "mirabest" not in settings
