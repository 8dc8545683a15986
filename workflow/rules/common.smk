# Shared helpers: config validation, the sweep's runs, paths, and code hashes for rerun triggers.

import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

from morphalign.config import (
    model_path,
    run_config,
    seeds,
    trained_targets,
    validate_config,
)
from morphalign.errors import MorphalignError
from morphalign.model.load import check_model_source, is_hub_id
from morphalign.provenance import code_hash

SCHEMA = Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml"

try:
    _validated = validate_config(config, SCHEMA)
    if _validated["model"]["name_or_path"] != "tiny":
        check_model_source(_validated["model"]["name_or_path"])
except MorphalignError as exc:
    sys.exit(f"morphalign: {exc}")
config.clear()
config.update(_validated)

ACCELERATE_DIR = str(Path(workflow.basedir) / "config" / "accelerate")
R = config["results"]
RES = config["resources"]
LOGS = "logs"
PROMPTS = list(config["prompts"])
TRAINED = trained_targets(config)
SEEDS = seeds(config)
MODEL = model_path(config)

# Rules rerun when the package code they run changes (Snakemake does not track imported modules).
CODE = {
    "data": code_hash("data"),
    "captions": code_hash("captions", "data"),
    "model": code_hash("model"),
    "cache": code_hash("cache", "captions", "model", "data"),
    "train": code_hash("train", "loss", "model", "data"),
    "embed": code_hash("embed", "train", "model", "data"),
    "evaluate": code_hash("evaluate", "provenance"),
    "report": code_hash("aggregate", "figures", "evaluate", "caption_stats"),
}


def run_id(prompt, target, seed=None):
    """A run's folder below results/runs: `{prompt}/frozen` or `{prompt}/{target}/seed{seed}`."""
    return f"{prompt}/frozen" if target == "frozen" else f"{prompt}/{target}/seed{seed}"


def parse_run(run):
    """(prompt, target, seed) from a run id."""
    parts = run.split("/")
    if parts[1] == "frozen":
        return parts[0], "frozen", None
    return parts[0], parts[1], int(parts[2].removeprefix("seed"))


def all_runs():
    runs = []
    for p in PROMPTS:
        if "frozen" in config["targets"]:
            runs.append(run_id(p, "frozen"))
        runs += [run_id(p, t, s) for t in TRAINED for s in SEEDS]
    return runs


def representative_runs():
    """One run per (prompt, target) for the figures: the first seed, or the frozen baseline."""
    out = {}
    for p in PROMPTS:
        for t in config["targets"]:
            out[(p, t)] = run_id(p, t, SEEDS[0])
    return out


def model_input(wildcards=None):
    """The model folder as an input when it is built here or local; nothing for a Hub id."""
    if config["model"]["name_or_path"] == "tiny":
        return {"model": MODEL}
    if is_hub_id(MODEL):
        return {}
    return {"model": MODEL}


def dataset_input(wildcards):
    """A folder dataset's CSV and image folder are inputs, so editing them reruns the data stage."""
    if config["dataset"]["source"] != "folder":
        return {}
    fc = config["dataset"]["folder"]
    return {"labels": fc["labels_csv"], "images_dir": fc["images_dir"]}


def overrides_input(wildcards):
    """The curation file is an input, so editing it rebuilds the captions tables (not the paid-for captions)."""
    path = config["captioning"]["overrides"]
    return {"overrides": path} if path else {}


def captioning_settings(prompt):
    """Gemini settings for a gemini prompt; nothing for other backends, so tuning them reruns nothing else."""
    if config["prompts"][prompt]["backend"] != "gemini":
        return {}
    return {k: v for k, v in config["captioning"].items() if k != "overrides"}


def dataset_dir(wildcards, input):
    """The dataset folder, derived from the rule's images input."""
    return str(Path(input.images).parent)


def adapter_input(wildcards):
    prompt, target, seed = parse_run(wildcards.run)
    if target == "frozen":
        return {}
    return {"adapter": f"{R}/runs/{wildcards.run}/adapter"}


def train_log_input(wildcards):
    prompt, target, seed = parse_run(wildcards.run)
    if target == "frozen":
        return {}
    return {"train_log": f"{R}/runs/{wildcards.run}/train_log.json"}


DATASET = {"images": f"{R}/data/images.npy", "manifest": f"{R}/data/manifest.csv"}

FINAL_OUTPUTS = [
    f"{R}/tables/runs.csv",
    f"{R}/tables/table1.md",
    f"{R}/tables/table1.tex",
    f"{R}/figures/cosine_distributions.png",
    f"{R}/figures/caption_alignment.png",
    f"{R}/figures/tsne_grid.png",
    f"{R}/figures/training_curves.png",
    f"{R}/tables/caption_stats.csv",
    f"{R}/figures/caption_stats.png",
]


wildcard_constraints:
    prompt="|".join(PROMPTS),
    target="vision|text|full",
    seed=r"\d+",
    run=r"[^/]+/(frozen|(vision|text|full)/seed\d+)",
