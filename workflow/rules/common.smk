# Shared helpers: config validation, the sweep's runs, code hashes, and settings that say where things are.

import atexit
import functools
import gc
import inspect
import json
import os
import re
import sys
from pathlib import Path

from snakemake.common import overwrite_function_params
from snakemake.utils import min_version

min_version("9.0")

# Planning a big sweep builds millions of objects that live as long as the plan (8,000 runs: about 18,000 jobs).
# CPython's full collections rescan every one of them each time the heap grows by a quarter: 15 of them, about 6 s of
# a 40 s dry run, and they free next to nothing (peak memory 578 MB with them, 588 MB without). So the cycle collector
# waits until the jobs start; reference counting still frees everything that is not in a cycle. Where `onstart` is
# not called (a dry run, --report, a job's own process) it stays off: those plan, run one job at most, and exit.
# `--nohooks` skips `onstart` too, so such a run keeps it off to the end.
gc.disable()
# At exit CPython collects once more, over the whole plan, although the process is about to give its memory back:
# 5.4 s of a 32 s dry run at 8,000 runs. Frozen objects are left out of that collection (0.1 s).
atexit.register(gc.freeze)


onstart:
    gc.enable()


# Every job runs this checkout's code: src/ goes first on sys.path here and on PYTHONPATH for the jobs (which
# inherit it, inside a SLURM job too, where Snakemake parses this file again), ahead of any installed copy. The
# conda environments therefore list third-party packages only.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(  # set for the jobs, not required of the user: so no envvars directive
    PYTHONPATH=os.pathsep.join(
        [
            SRC,
            *(
                p
                for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                if p and p != SRC
            ),
        ]
    )
)

from morphalign.captions.backends import backend_module
from morphalign.cluster.profile import placeholder_error, placeholders, profile_files
from morphalign.config import (
    dataset_settings,
    model_path,
    run_config,
    sweep_runs,
    validate_config,
)
from morphalign.errors import MorphalignError
from morphalign.model.load import check_model_source, is_hub_id
from morphalign.provenance import code_hash, content_hash
from morphalign.runs import RUN_PATTERN, TARGETS, TRAINED_RUN_PATTERN, Run

WORKFLOW_DIR = Path(workflow.current_basedir).parent
SCHEMA = WORKFLOW_DIR / "schemas" / "config.schema.yaml"

try:
    _validated = validate_config(config, SCHEMA)
    if _validated["model"]["name_or_path"] != "tiny":
        check_model_source(_validated["model"]["name_or_path"])
except MorphalignError as exc:
    sys.exit(f"morphalign: {exc}")
config.clear()
config.update(_validated)

# a profile whose resources still say CHANGE_ME stops here, before anything reaches sbatch
_settings = workflow.resource_settings
_unfilled = placeholders(
    (_settings.default_resources or {}).items(),
    {rule: res.items() for rule, res in _settings.overwrite_resources.items()},
)
if _unfilled:
    sys.exit(f"morphalign: {placeholder_error(_unfilled, profile_files(sys.argv))}")

# accelerate's configs: the fine-tunes find them through the environment, as they find src/ above, and their params
# hold what the files say, not where they are, so that a checkout moved to another folder reruns nothing
_ACCELERATE_DIR = WORKFLOW_DIR.parent / "config" / "accelerate"
os.environ.update(MORPHALIGN_ACCELERATE_DIR=str(_ACCELERATE_DIR))
ACCELERATE_CONFIGS = content_hash(*sorted(_ACCELERATE_DIR.glob("*.yaml")))
# the environment of the rules that run the model: conda-forge's CUDA or CPU build of PyTorch
TRAIN_ENV = f"../../envs/{'train' if config['compute']['conda_torch'] == 'cuda' else 'train-cpu'}.yaml"
# a job given GPUs by SLURM stops when torch sees none (morphalign.model.device); off only for fake-GPU test clusters
GPU_GUARD = "" if config["gpu_guard"] else "--no-gpu-guard"
R = config["results"]
RES = config["resources"]
LOGS = "logs"
PROMPTS = list(config["prompts"])
RUNS = sweep_runs(config)
TRAINED_RUNS = [r for r in RUNS if r.trained]
MODEL_ID = config["model"]["name_or_path"]  # what the base model is
TINY = MODEL_ID == "tiny"


def script_code(name):
    """Hash of the code run by a script: the package modules it imports, found from the import graph."""
    return code_hash(str(WORKFLOW_DIR / "scripts" / f"{name}.py"))


# Rules rerun when the code they run changes (Snakemake does not track imported modules). Each hash covers the
# entry modules and everything they import inside morphalign; comments and docstrings change nothing.
CODE = {
    "dataset": script_code("make_dataset"),
    "pretrain": script_code("pretrain"),
    "pixel_cache": script_code("pixel_cache"),
    "token_cache": script_code("token_cache"),
    "finetune": code_hash("morphalign.train.launch", "morphalign.train"),
    "embed": code_hash("morphalign.embed"),
    "frozen": code_hash("morphalign.embed.frozen"),
    "evaluate": code_hash("morphalign.evaluate"),
    "aggregate": script_code("aggregate"),
    "figures": script_code("figures"),
    "caption_stats": script_code("caption_stats"),
    "pretrain_report": script_code("pretrain_report"),
    "calibration": script_code("calibration"),
    "caption_audit": script_code("caption_audit"),
    "caption_audit_table": script_code("caption_audit_table"),
    "classify": script_code("classify"),
    "classify_table": script_code("classify_table"),
    "geometry": script_code("geometry"),
    "class_prompts": script_code("class_prompts"),
    "figure1": script_code("figure1"),
    "table_page": script_code("table_page"),
    "caption_gallery": script_code("caption_gallery"),
    "retrieval_examples": script_code("retrieval_examples"),
    "paper_comparison": script_code("paper_comparison"),
    "provenance_page": script_code("provenance_page"),
}
# where the base model is: the pretrained tiny folder (named by its settings and code), a local folder or a Hub id
MODEL = model_path(config, CODE["pretrain"])


def captions_code(wildcards):
    """The captions stage plus the one backend the prompt uses: editing Gemini code reruns only Gemini prompts."""
    backend = config["prompts"][wildcards.prompt]["backend"]
    return code_hash(
        str(WORKFLOW_DIR / "scripts" / "caption.py"), backend_module(backend)
    )


def location(value):
    """A setting that says where something is, not what it is (a mirror, a cache folder).

    The job receives it, but Snakemake does not record it: a params function of `input` counts as derived from
    the inputs, which Snakemake compares by themselves. So moving a mirror or a cache reruns nothing.
    """
    return lambda wildcards, input: value


def planned(func):
    """Give Snakemake a per-run rule's input or params function's parameters once.

    Snakemake otherwise inspects the function's signature at every call, twice per call, which is a measurable share
    of planning a sweep of thousands of runs (the per-run rules' functions run some 60,000 times for 8,000 runs).
    """
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


@planned
def run_json(wildcards):
    """A run's resolved settings (`morphalign.config.run_config`) as compact JSON, for the CLIs' `--run-json`.

    A params entry, not a file: a changed setting reruns the run's jobs and nothing else, and a sweep needs no job
    per run to write its settings down (planning 8,000 runs makes 6,000 fewer jobs). The fine-tune writes them
    beside its adapter (run.json). Computed once per run: its three jobs ask for it, each more than once.
    """
    return _run_json(wildcards.run)


@functools.cache
def _run_json(run_id):
    settings = run_config(config, Run.parse(run_id))
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def run_of(wildcards):
    return Run.parse(wildcards.run)


def model_input(wildcards=None):
    """The model folder as an input when it is built here or local; nothing for a Hub id."""
    if TINY or not is_hub_id(MODEL):
        return {"model": MODEL}
    return {}


# the same for every job: a dict, not a function Snakemake calls per job
MODEL_INPUT = model_input()


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


for _name, _prompt in config[
    "prompts"
].items():  # a shuffled control needs a real prompt to shuffle
    _source = _prompt.get("source")
    if _prompt["backend"] == "shuffled" and (
        _source not in config["prompts"]
        or config["prompts"][_source]["backend"] == "shuffled"
        or not _prompt.get("shuffle")
    ):
        raise MorphalignError(
            f"prompts.{_name}: a shuffled control needs `shuffle` (all or within_class) and `source`, another "
            f"unshuffled prompt of this config; got source {_source!r}"
        )


# the main prompt's shuffled-caption controls, which Table 1d and the controls' Figure 1 compare it with
CONTROLS = [
    name
    for name, p in config["prompts"].items()
    if p["backend"] == "shuffled" and p.get("source") == config["report"]["main_prompt"]
]


# the captions a run is embedded and evaluated on: a shuffled control is trained on its shuffled captions, but its
# model is scored on the true ones, its source's (a probe fitted on captions of other galaxies would only measure
# the shuffling)
EVAL_PROMPT = {
    name: p["source"] if p["backend"] == "shuffled" else name
    for name, p in config["prompts"].items()
}


def shuffle_source_input(wildcards):
    """A shuffled control's source: the captions table of the prompt it shuffles."""
    prompt = config["prompts"][wildcards.prompt]
    if prompt["backend"] != "shuffled":
        return {}
    return {"source": f"{R}/captions/{prompt['source']}.csv"}


def captioning_settings(prompt):
    """Gemini settings for a gemini prompt; nothing for other backends, so tuning them reruns nothing else."""
    if config["prompts"][prompt]["backend"] != "gemini":
        return {}
    return {k: v for k, v in config["captioning"].items() if k != "overrides"}


CLASSIFY = list(config["classify"]["runs"]) if config["classify"]["enabled"] else []


def classify_settings(name):
    """One classify run's settings: the shared ones and its own."""
    return {k: v for k, v in config["classify"].items() if k != "enabled"}


def judge_settings():
    """The Gemini client settings for the caption judge; nothing when it is off, so they rerun no audit."""
    if not config["caption_audit"]["judge"]["enabled"]:
        return {}
    return {k: v for k, v in config["captioning"].items() if k != "overrides"}


def dataset_dir(wildcards, input):
    """The dataset folder, derived from the rule's images input."""
    return str(Path(input.images).parent)


FROZEN_TOWERS = config["compute"]["frozen_towers"]
FROZEN = {
    "image": f"{R}/cache/frozen/image.npy",
    "text": f"{R}/cache/frozen/text/{{prompt}}.npy",
    "class_text": f"{R}/cache/frozen/class_text.npz",
}

# The per-run rules (finetune, embed, evaluate) each take one input function and one function for their run-dependent
# options: planning 8,000 runs calls them tens of thousands of times, and Snakemake inspects every call.


def frozen_inputs(run):
    """The cached features of the towers a run leaves frozen (all three for the frozen baseline); none if off."""
    if not FROZEN_TOWERS:
        return {}
    towers = TARGETS[run.target].towers
    out = {}
    if "vision" not in towers:
        out["frozen_image"] = FROZEN["image"]
    if "text" not in towers:
        out["frozen_text"] = FROZEN["text"].format(prompt=EVAL_PROMPT[run.prompt])
        out["frozen_class_text"] = FROZEN["class_text"]
    return out


@planned
def finetune_inputs(wildcards):
    """The run's token cache and, for a one-tower target, its frozen tower's cached features (`frozen`)."""
    run = run_of(wildcards)
    out = {"tokens": f"{R}/cache/tokens/{run.prompt}.npz"}
    left = [t for t in ("vision", "text") if t not in TARGETS[run.target].towers]
    if FROZEN_TOWERS and left == ["vision"]:
        out["frozen"] = FROZEN["image"]
    elif FROZEN_TOWERS and left == ["text"]:
        # the text features of the captions it trains on (a control's shuffled ones)
        out["frozen"] = FROZEN["text"].format(prompt=run.prompt)
    return out


@planned
def embed_inputs(wildcards):
    """The token cache of the captions the run is scored on, its adapter when it trained one, and the frozen
    features it reads."""
    run = run_of(wildcards)
    out = {
        "tokens": f"{R}/cache/tokens/{EVAL_PROMPT[run.prompt]}.npz",
        **frozen_inputs(run),
    }
    if run.trained:
        out["adapter"] = f"{R}/runs/{wildcards.run}/adapter"
    return out


def optional_args(input, *keys):
    """`--key path` for each optional input the job has (`frozen_image` -> `--frozen-image`)."""
    have = set(input.keys())
    return " ".join(f"--{k.replace('_', '-')} {input[k]}" for k in keys if k in have)


def model_args(wildcards, input):
    """The base model for the train and embed CLIs: where it is (its identity is in run.json)."""
    cache = config["model"]["cache_dir"]
    return f"--model {MODEL}" + (f" --model-cache-dir {cache}" if cache else "")


@planned
def finetune_args(wildcards, input, output):
    """Where the model and dataset are (not recorded: see `location`), where to checkpoint, and the frozen
    features when the run reads them."""
    resume_dir = Path(output.log).parent / "checkpoint"
    return (
        f"{model_args(wildcards, input)} --dataset {Path(input.images).parent}"
        f" --checkpoint-dir {resume_dir} {optional_args(input, 'frozen')}"
    )


@planned
def embed_args(wildcards, input):
    """Where the model and dataset are, the adapter and the frozen features the run reads."""
    keys = ("adapter", "frozen_image", "frozen_text", "frozen_class_text")
    return (
        f"{model_args(wildcards, input)} --dataset {Path(input.images).parent}"
        f" {optional_args(input, *keys)}"
    )


@planned
def train_log_input(wildcards):
    if not run_of(wildcards).trained:
        return {}
    return {"train_log": f"{R}/runs/{wildcards.run}/train_log.json"}


def representative_runs():
    """One run per (prompt, target) for the figures: seed `report.figure_seed` if it ran (else the first seed),
    or the frozen baseline."""
    chosen = config["report"]["figure_seed"]
    out = {}
    for run in RUNS:
        key = (run.prompt, run.target)
        if key not in out or run.seed == chosen:
            out[key] = run
    return out


def anchoring_runs(controls=()):
    """Figure 1's runs: the frozen runs of the main and reference prompts, and every trained run of either (and of
    the shuffled `controls`, for their version of the figure)."""
    pair = {config["report"]["main_prompt"], config["report"]["reference_prompt"]}
    frozen = [r for r in RUNS if r.prompt in pair and r.seed is None]
    trained = [
        r for r in RUNS if r.prompt in pair | set(controls) and r.seed is not None
    ]
    return frozen, trained


ANCHORING = {"figure1": anchoring_runs(), "figure1_controls": anchoring_runs(CONTROLS)}


DATASET = {"images": f"{R}/data/images.npy", "manifest": f"{R}/data/manifest.csv"}

# The HTML report (`snakemake --report`): each results table as a page, in its report category
TABLE_PAGES = {
    "table1": (f"{R}/tables/table1.md", "Table 1", "Table 1"),
    "caption_stats": (
        f"{R}/tables/caption_stats.csv",
        "Caption statistics",
        "Data and captions",
    ),
    "caption_audit": (
        f"{R}/tables/caption_audit.csv",
        "Caption audit",
        "Data and captions",
    ),
    "calibration": (  # the floors the probes are read against
        f"{R}/tables/calibration.csv",
        "Baselines without a model",
        "Classification",
    ),
    "figure1_anchoring": (
        f"{R}/tables/figure1_anchoring.csv",
        "Figure 1 values",
        "Alignment",
    ),
    "geometry": (f"{R}/tables/geometry.md", "Embedding geometry", "Geometry"),
}
if CONTROLS:
    TABLE_PAGES["figure1_controls"] = (
        f"{R}/tables/figure1_controls.csv",
        "Figure 1 values, controls",
        "Controls",
    )
if CLASSIFY:
    TABLE_PAGES["classify"] = (
        f"{R}/tables/classify.md",
        "Generative and zero-shot classification",
        "Classification",
    )


def retrieval_pairs():
    """The runs the retrieval examples show: each trained (prompt, target)'s figure run, and the frozen run of the
    captions it is scored on (None when the sweep has no frozen target)."""
    chosen = representative_runs()
    return {
        key: (run, chosen.get((EVAL_PROMPT[run.prompt], "frozen")))
        for key, run in chosen.items()
        if run.trained
    }


RETRIEVAL = retrieval_pairs()


def retrieval_inputs(wildcards):
    """The run shown, the frozen run before it (if the sweep has one), and the captions both are scored on."""
    run, frozen = RETRIEVAL[wildcards.prompt, wildcards.target]
    out = {
        "after": f"{R}/runs/{run.id}/embeddings.npz",
        "captions": f"{R}/captions/{EVAL_PROMPT[run.prompt]}.csv",
    }
    if frozen is not None:
        out["before"] = f"{R}/runs/{frozen.id}/embeddings.npz"
    return out


def provenance_config():
    """The config as the provenance page shows it: what determines results, without where things are (mirrors,
    caches) or the settings of dataset sources not used, which rerun nothing else either.
    """
    shown = {k: v for k, v in config.items() if k != "data_mirror"}
    shown["model"] = {k: v for k, v in config["model"].items() if k != "cache_dir"}
    shown["dataset"] = dataset_settings(config)
    return shown


# the digest of the paper's Table 1, transcribed (morphalign.report.paper.PAPER_TABLE, shipped with the package): in
# the params of the rule that reads it, so an edit of the transcription reruns it and a moved checkout does not
PAPER_TABLE_DIGEST = content_hash(
    Path(SRC, "morphalign", "report", "reference", "lastufka2025_table1.csv")
)


def paper_setting():
    """What the paper comparison checks against the paper's setting: model, dataset, prompts, F1 and training."""
    main, ref = config["report"]["main_prompt"], config["report"]["reference_prompt"]
    return {
        "model": MODEL_ID,
        "dataset": dataset_settings(config),
        "main_name": main,
        "main": config["prompts"][main],
        "reference_name": ref,
        "reference": config["prompts"].get(ref),
        "f1_average": config["evaluate"]["f1_average"],
        "training": {
            "lora.r": config["lora"]["r"],
            "lora.alpha": config["lora"]["alpha"],
            "train.lr": config["train"]["lr"],
        },
    }


SHOWN_PROMPTS = [p for p in PROMPTS if config["prompts"][p]["backend"] != "shuffled"]

FINAL_OUTPUTS = (
    [
        f"{R}/tables/runs.csv",
        f"{R}/tables/table1.csv",
        f"{R}/tables/table1.md",
        f"{R}/tables/table1.tex",
        f"{R}/figures/cosine_distributions.png",
        f"{R}/figures/caption_alignment.png",
        f"{R}/figures/tsne_grid.png",
        f"{R}/figures/training_curves.png",
        f"{R}/tables/caption_stats.csv",
        f"{R}/figures/caption_stats.png",
        f"{R}/tables/calibration.csv",
        f"{R}/tables/caption_audit.csv",
        f"{R}/tables/geometry.md",
        f"{R}/figures/geometry.png",
        f"{R}/figures/figure1_anchoring.png",
    ]
    + ([f"{R}/figures/figure1_controls.png"] if CONTROLS else [])
    + ([f"{R}/tables/classify.csv", f"{R}/tables/classify.md"] if CLASSIFY else [])
    + ([f"{R}/pretrain/report.json", f"{R}/figures/pretraining.png"] if TINY else [])
    + [f"{R}/report/tables/{name}.html" for name in TABLE_PAGES]
    + [f"{R}/report/retrieval/{p}/{t}.html" for p, t in RETRIEVAL]
    + [
        f"{R}/report/caption_gallery.html",
        f"{R}/report/paper.html",
        f"{R}/report/provenance.html",
    ]
)


wildcard_constraints:
    prompt="|".join(re.escape(p) for p in PROMPTS),
    run=RUN_PATTERN,
    name="[A-Za-z0-9_.-]+",
    table="|".join(TABLE_PAGES),


@planned
def train_log_args(wildcards, input):
    """`--train-log` for a trained run's evaluation."""
    return optional_args(input, "train_log")


def evaluate_args():
    """The evaluate section as command-line options of `python -m morphalign.evaluate`."""
    return " ".join(
        f"--{key.replace('_', '-')} {value}"
        for key, value in config["evaluate"].items()
    )
