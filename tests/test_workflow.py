"""The Snakemake workflow: job counts, bad-config errors, lint, and (slow) a whole run in a temporary folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, snakemake_command
from morphalign.report.aggregate import ROWS

SNAKEFILE = REPO / "Snakefile"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

TINY_SWEEP = {
    "dataset": {"val_size": 16, "synthetic": {"n_train": 64, "n_test": 24}},
    "model": {"tiny": {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "image_size": 32}},
    "pretrain": {"epochs": 1, "n_scenes": 128, "n_held_out": 32, "batch_size": 32},
    "seeds": 2,
    "train": {"max_epochs": 2, "batch_size": 16, "lr": 1e-3},
    "report": {"tsne_perplexity": 5},
}


# one prompt, for the tests whose question does not depend on how many prompts a sweep has (half the jobs of two)
ONE_PROMPT = {"text": "Describe the radio galaxy.", "backend": "describer", "style": "curated"}


def write_config(folder: Path, cfg: dict) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake(
    workdir: Path, *args: str, check: bool = True, snakefile: Path = SNAKEFILE, env: dict | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    cmd = [*SNAKEMAKE, "-s", str(snakefile), "--directory", str(workdir), "--workflow-profile", "none", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    table = output[output.index("Job stats:") :]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.parametrize(
    "prompts,targets,seeds",
    [
        (["control", "curated"], ["frozen", "vision", "text", "full"], 3),
        (["curated"], ["frozen", "text"], 5),
        (["control", "curated"], ["vision", "full"], 1),
    ],
)
def test_dry_run_job_counts(tmp_path, prompts, targets, seeds):
    base = {
        "prompts": {p: {"text": f"{p} prompt", "backend": "describer", "style": p} for p in prompts},
        "targets": targets,
        "seeds": seeds,
    }
    cfg = write_config(tmp_path, base)
    out = snakemake(tmp_path, "-n", "--configfile", str(cfg), "--quiet", "rules").stdout
    counts = job_counts(out)
    trained = len([t for t in targets if t != "frozen"])
    runs = len(prompts) * (trained * seeds + ("frozen" in targets))
    assert counts["finetune"] == len(prompts) * trained * seeds
    assert counts["evaluate"] == counts["embed"] == runs
    assert "run_config" not in counts  # a run's settings reach its jobs inline: no job per run writes them
    assert counts["captions"] == counts["token_cache"] == len(prompts)
    assert counts["aggregate"] == counts["figures"] == counts["dataset"] == 1


@pytest.mark.parametrize(
    "cfg,message",
    [
        ({"trian": {"lr": 1}}, "'trian' was unexpected"),
        ({"targets": ["frozen", "tower"]}, "targets.1: 'tower' is not one of"),
        ({"prompts": {"x": {"text": "", "backend": "describer", "style": "control"}}}, "prompts.x.text"),
        ({"model": {"name_or_path": "./no/such/model"}}, "model folder './no/such/model' does not exist"),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, cfg, message):
    path = write_config(tmp_path, cfg)
    proc = snakemake(tmp_path, "-n", "--configfile", str(path), check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_lint_is_clean(tmp_path):
    proc = subprocess.run(
        [
            *SNAKEMAKE,
            "-s",
            str(SNAKEFILE),
            "--lint",
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "config" / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Snakemake run in this interpreter; then whether CPython's cycle collector is on (common.smk turns it off while
# planning and on again when the jobs start), and whether the exit handlers freeze the heap (so that CPython's last
# collection, at exit, does not rescan the plan)
_GC_AFTER = """
import atexit, gc, sys
from snakemake.cli import main
code = None
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
enabled = gc.isenabled()
atexit._run_exitfuncs()
print("gc enabled:", enabled, "frozen at exit:", gc.get_freeze_count() > 0, "exit:", code)
"""


def test_planning_defers_the_cycle_collector_and_running_jobs_restores_it(tmp_path):
    args = [*snakemake_command(tmp_path)[3:], "--cores", "1", "results/cache/class_prompts.json"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    def after(*extra: str) -> str:
        proc = subprocess.run([sys.executable, "-c", _GC_AFTER, *args, *extra], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout.strip().splitlines()[-1]

    # a plan only: off to the end, and the process exits
    assert after("-n") == "gc enabled: False frozen at exit: True exit: 0"
    assert not (tmp_path / "results").exists()
    # a job ran: on again from `onstart`
    assert after() == "gc enabled: True frozen at exit: True exit: 0"
    assert json.loads((tmp_path / "results" / "cache" / "class_prompts.json").read_text())


def test_snakefmt_is_clean():
    if shutil.which("snakefmt") is None:
        pytest.skip("snakefmt is not installed (pip install -e '.[dev]')")
    proc = subprocess.run(["snakefmt", "--check", "Snakefile", "workflow"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _listed_jobs(output: str) -> set[str]:
    """`rule[wildcards]` of every job a dry run would execute."""
    jobs, rule, wildcards = set(), None, ""
    for line in [*output.splitlines(), "rule end:"]:
        m = re.match(r"^\s*(?:local)?rule (\w+):", line)  # group members are indented
        if m:
            if rule and rule != "end":
                jobs.add(f"{rule}[{wildcards}]")
            rule, wildcards = m.group(1), ""
        elif rule and line.strip().startswith("wildcards:"):
            wildcards = line.split("wildcards:", 1)[1].strip()
    return jobs


@pytest.mark.slow
def test_default_end_to_end(default_run, tmp_path):
    """The default's outputs, as `snakemake --cores 2` left them: tables, figures and every metrics file; then what
    an edit of one key would rerun (planned only: the finished run is shared with the other tests)."""
    res = default_run / "results"

    # the table and figures
    for name in ("runs.csv", "table1.csv", "table1.md", "table1.tex"):
        assert (res / "tables" / name).stat().st_size > 0
    table = (res / "tables" / "table1.md").read_text()
    for label in ("Linear probe F1, text", "Recall@1", "Class Recall@1", "Frozen", "Full", "Chance", "Table 1b"):
        assert label in table
    assert "±" in table and "[" in table and "Text − Frozen" in table
    assert "Zero-shot F1, class prompts" in table
    long = pd.read_csv(res / "tables" / "table1.csv")
    cells = long[long.kind == "cell"]
    # 2 prompts x 4 targets, and the 2 shuffled-caption controls' text runs (zero-shot rows included)
    assert len(cells) == (2 * 4 + 2) * len(ROWS) and (cells.ci_low <= cells.ci_high).all()
    assert long[long.kind == "difference"]["p_holm"].between(0, 1).all()
    figures = ("cosine_distributions", "caption_alignment", "tsne_grid", "training_curves", "figure1_anchoring")
    for name in (*figures, "figure1_controls", "geometry", "pretraining", "caption_stats"):
        png = res / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # every metrics JSON: 2 prompts x (3 targets x 3 seeds + frozen), and 2 controls x 2 seeds
    metrics = sorted(res.glob("runs/**/metrics.json"))
    assert len(metrics) == 2 * (3 * 3 + 1) + 2 * 2
    for path in metrics:
        m = json.loads(path.read_text())
        for key in (
            "linear_probe_f1_image",
            "linear_probe_f1_text",
            "linear_probe_f1_concat",
            "knn_f1_concat",
            "mean_cosine",
            "recall_at_1",
            "recall_at_5_t2i",
            "class_recall_at_1",
            "chance_recall_at_1",
        ):
            assert isinstance(m[key], float), (path, key)
        assert 0.0 <= m["recall_at_1"] <= 1.0
        assert m["versions"]["torch"] and m["versions"]["transformers"] and m["versions"]["peft"]
        assert m["config"]["target"] == m["target"]
        if m["target"] == "frozen":
            assert m["epochs_trained"] == 0
        else:
            assert m["epochs_trained"] >= 1 and m["best_val_loss"] is not None
            assert (path.parent / "adapter" / "adapter_config.json").is_file()
        predictions = pd.read_csv(path.parent / "predictions.csv")
        assert np.mean(predictions["rank_t2i"] == 0) == pytest.approx(m["recall_at_1_t2i"])
    assert (default_run / "logs" / "benchmarks" / "pretrain.tsv").is_file()

    def plan(edit: dict) -> set[str]:
        cmd = snakemake_command(default_run, write_config(tmp_path, edit))
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        proc = subprocess.run([*cmd, "-n"], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        return _listed_jobs(proc.stdout)

    # one key changed: only the affected jobs rerun
    jobs = plan({"train": {"lr_by_run": {"control/text": 5e-4}}})
    expected = {f"{rule}[run=control/text/seed{s}]" for rule in ("finetune", "embed", "evaluate") for s in (0, 1, 2)}
    expected |= {"aggregate[]", "figures[]", "figure1[]", "figure1_controls[]", "geometry[]", "all[]"}  # read the runs
    # and the report's pages of what they changed (the retrieval examples show seed 0 of each prompt and target)
    expected |= {f"table_page[table={t}]" for t in ("table1", "geometry", "figure1_anchoring", "figure1_controls")}
    expected |= {"paper_comparison[]", "provenance_page[]", "retrieval_examples[prompt=control, target=text]"}
    assert jobs == expected

    # evaluation settings rerun evaluation only
    jobs = plan({"evaluate": {"knn_k": 3}})
    pages = {"table_page", "paper_comparison", "provenance_page"}  # the report's pages of what they changed
    assert {j.split("[")[0] for j in jobs} == {"evaluate", "aggregate", "geometry", "all", *pages}


def test_paper_config_dry_run(tmp_path):
    """The paper's config plans the whole study without network, GPU or cluster."""
    out = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config" / "paper.yaml"), "--quiet", "rules").stdout
    counts = job_counts(out)
    assert counts["finetune"] == 2 * 3 * 3 and counts["evaluate"] == 2 * (3 * 3 + 1)
    assert "pretrain" not in counts and "pretrain_report" not in counts  # the Hub model is loaded, not built


def test_paper_code_config_dry_run(tmp_path):
    """paper_code.yaml on top of paper.yaml plans the same study (its validation split and settings differ)."""
    configs = [str(REPO / "config" / name) for name in ("paper.yaml", "paper_code.yaml")]
    counts = job_counts(snakemake(tmp_path, "-n", "--configfile", *configs, "--quiet", "rules").stdout)
    assert counts["finetune"] == 2 * 3 * 3 and counts["evaluate"] == 2 * (3 * 3 + 1)


@pytest.mark.slow
def test_reference_code_definitions_run(tmp_path):
    """Every definition paper_code.yaml takes from the reference code, run on the tiny default (one prompt: none of
    them depends on which)."""
    code = yaml.safe_load((REPO / "config" / "paper_code.yaml").read_text())
    cfg = {
        **TINY_SWEEP,
        "prompts": {"curated": ONE_PROMPT},
        "seeds": 1,
        "targets": ["frozen", "full"],
        "preprocess": {"lowercase": code["preprocess"]["lowercase"]},
        "lora": code["lora"],
        "train": {
            **TINY_SWEEP["train"],
            **{k: code["train"][k] for k in ("grad_accum", "weight_decay", "scheduler", "grad_clip", "loss_reduction")},
        },
        "evaluate": code["evaluate"],
    }
    # up to Table 1: the runs and the table are what these definitions change
    table = "results/tables/table1.md"
    snakemake(tmp_path, table, "--cores", "2", "--configfile", str(write_config(tmp_path, cfg)))
    res = tmp_path / "results"
    m = json.loads((res / "runs" / "curated" / "full" / "seed0" / "metrics.json").read_text())
    assert m["config"]["evaluate"]["probe"] == "torch_adam" and m["config"]["evaluate"]["f1_average"] == "binary"
    assert m["config"]["train"]["loss_reduction"] == "mean" and m["config"]["preprocess"]["lowercase"] is False
    log = json.loads((res / "runs" / "curated" / "full" / "seed0" / "train_log.json").read_text())
    assert log["epochs"][-1]["lr"] == 0.0  # linear schedule, accumulation 2: it ends at zero
    assert log["epochs"][-1]["val_loss"] < 1.0  # the mean over B^2 pairs, not the sum over B
    assert "probes scored by binary F1 of class 1" in (res / "tables" / "table1.md").read_text()


@pytest.mark.slow
def test_mirabest_end_to_end(tmp_path, monkeypatch):
    """Real MiraBest F images through captions, training and evaluation to Table 1, offline through the mirror (the
    figures and pages after the table run the same code as the default's)."""
    from conftest import MIRABEST_F, need_shared

    mirror = need_shared(MIRABEST_F).parent
    fast = write_config(
        tmp_path,
        {
            "seeds": 1,
            "targets": ["frozen", "text"],
            "prompts": {"control": {"targets": ["frozen"]}},  # both prompts' captions; training on curated's
            "model": TINY_SWEEP["model"],
            "pretrain": TINY_SWEEP["pretrain"],
            "train": {"max_epochs": 2, "batch_size": 32},
            "report": {"tsne_perplexity": 10},
        },
    )
    env_cfg = ["--configfile", str(REPO / "config" / "mirabest.yaml"), str(fast)]
    monkeypatch.setenv("MORPHALIGN_DATA_MIRROR", str(mirror))
    targets = ["results/tables/table1.md", "results/tables/caption_stats.csv", "results/figures/caption_stats.png"]
    snakemake(tmp_path, *targets, "--cores", "2", *env_cfg)
    res = tmp_path / "results"
    man = pd.read_csv(res / "data" / "manifest.csv")
    assert len(man) == 833 and (man.release == "F").all()
    assert (man.split == "test").sum() == 104
    assert not (tmp_path / "resources" / "downloads").exists()  # nothing was downloaded
    stats = pd.read_csv(res / "tables" / "caption_stats.csv")
    assert set(stats.prompt) == {"control", "curated"} and (stats.captions == 833).all()
    assert (res / "figures" / "caption_stats.png").stat().st_size > 0
    assert "Linear probe F1, text" in (res / "tables" / "table1.md").read_text()
    assert {p.parent.relative_to(res / "runs").as_posix() for p in res.glob("runs/**/metrics.json")} == {
        "control/frozen",
        "curated/frozen",
        "curated/text/seed0",
    }


def test_gemini_captions_through_the_workflow_never_leak_the_key(tmp_path, monkeypatch):
    """Gemini captions via Snakemake against the fake server; the key appears in no file written."""
    from morphalign.testing.fake_gemini import FakeGemini, MixedFaults

    with FakeGemini(plan=MixedFaults(rate=0.3, seed=4, permanent=0.1)) as srv:
        monkeypatch.setenv("GEMINI_API_KEY", srv.api_key)
        cfg = {
            **TINY_SWEEP,
            "prompts": {"curated": {"text": "Describe the radio galaxy.", "backend": "gemini"}},
            "captioning": {"base_url": srv.url, "timeout_s": 1, "backoff_base_s": 0.01, "max_attempts": 3},
        }
        path = write_config(tmp_path, cfg)
        target = "results/captions/curated.csv"
        failed = snakemake(tmp_path, target, "--cores", "1", "--configfile", str(path), check=False)
        assert failed.returncode != 0
        assert "captions failed for prompt 'curated'" in failed.stdout + failed.stderr
        assert "failures.csv" in failed.stdout + failed.stderr
        n_first = len(srv.requests)
        failed_first = len(pd.read_csv(tmp_path / "results" / "captions" / "reports" / "curated.failures.csv"))
        cfg["captioning"]["tolerated_failure_fraction"] = 0.25
        snakemake(tmp_path, target, "--cores", "1", "--configfile", str(write_config(tmp_path, cfg)))
        table = pd.read_csv(tmp_path / target)
        assert len(table) == 88 and table["caption"].str.strip().ne("").all()
        # the rerun only asked again for the captions that had failed (a load-induced timeout counts as failed)
        again = srv.requests[n_first:]
        assert len({r.image_sha for r in again}) == failed_first and len(again) <= 3 * failed_first
        assert (table["status"] != "ok").sum() <= failed_first
    key = srv.api_key.encode()
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and key in p.read_bytes()]
    assert leaks == []
    for folder in ("results", "logs", ".snakemake"):
        assert (tmp_path / folder).is_dir()


def test_classify_through_the_workflow(tmp_path, monkeypatch):
    """The classify rule, zero-shot and four-shot, against the fake server: answers parsed, metrics written."""
    from morphalign.testing.fake_gemini import FakeGemini

    with FakeGemini(answer=lambda image_sha, prompt_sha, attempt: "FR-II") as srv:
        monkeypatch.setenv("GEMINI_API_KEY", srv.api_key)
        cfg = {
            **TINY_SWEEP,
            "captioning": {"base_url": srv.url, "timeout_s": 2, "backoff_base_s": 0.01, "max_attempts": 3},
            "classify": {"enabled": True, "runs": {"zero_shot": {"shots": 0}, "four_shot": {"shots": 4}}},
        }
        path = write_config(tmp_path, cfg)
        targets = [f"results/classify/{name}/metrics.json" for name in ("zero_shot", "four_shot")]
        snakemake(tmp_path, *targets, "--cores", "1", "--configfile", str(path))
        turns = sorted({len(r.turns) for r in srv.requests})
    labels = pd.read_csv(tmp_path / "results" / "data" / "manifest.csv").query("split == 'test'")["label"]
    for target in targets:
        m = json.loads((tmp_path / target).read_text())
        assert m["n"] == len(labels) and m["errors"] == 0
        assert m["accuracy"] == pytest.approx(labels.mean())  # "FR-II" for every image: right on class 1 only
    assert turns == [1, 9]  # zero-shot: the image; four-shot: four example pairs, then the image
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and srv.api_key.encode() in p.read_bytes()]


def test_shuffled_controls_join_the_sweep_and_shuffle_only_training_captions(tmp_path):
    """The default's controls train the text target only; config/shuffled.yaml's train every target. Their
    captions are the source's, moved; Table 1d and the controls' Figure 1 are planned with them."""
    prompts = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["prompts"]
    cfg = write_config(tmp_path, {**TINY_SWEEP, "prompts": prompts})
    default = snakemake(tmp_path, "-n", "-p", "--configfile", str(cfg))
    for prompt in ("curated_shuffled", "curated_shuffled_in_class"):
        assert f"runs/{prompt}/text/seed1/metrics.json" in default.stdout
        # trained on its shuffled captions, scored (embedded) on the true ones
        lines = default.stdout.splitlines()
        train = next(line for line in lines if "train.launch" in line and f"{prompt}/text/seed1/" in line)
        embed = next(line for line in lines if "morphalign.embed " in line and f"{prompt}/text/seed1/" in line)
        assert f"--tokens results/cache/tokens/{prompt}.npz" in train
        assert "--tokens results/cache/tokens/curated.npz" in embed
        assert f"runs/{prompt}/full/" not in default.stdout and f"runs/{prompt}/frozen/" not in default.stdout
    assert "figures/figure1_controls.png" in default.stdout
    prompts |= yaml.safe_load((REPO / "config" / "shuffled.yaml").read_text())["prompts"]
    path = write_config(tmp_path, {**TINY_SWEEP, "prompts": prompts})
    plan = snakemake(tmp_path, "-n", "--configfile", str(path))
    for prompt in ("curated_shuffled", "curated_shuffled_in_class"):
        assert f"runs/{prompt}/full/seed1/metrics.json" in plan.stdout
    targets = [f"results/captions/{p}.csv" for p in ("curated", "curated_shuffled", "curated_shuffled_in_class")]
    snakemake(tmp_path, *targets, "--cores", "1", "--configfile", str(path))
    read = {t: pd.read_csv(tmp_path / t).set_index("id") for t in targets}
    man = pd.read_csv(tmp_path / "results" / "data" / "manifest.csv").set_index("id")
    source, moved, in_class = (read[t] for t in targets)
    test = man.index[man.split == "test"]
    train = man.index[man.split != "test"]
    assert (moved.loc[test, "caption"] == source.loc[test, "caption"]).all()
    assert (moved.loc[train, "caption_of"] != train).all()
    assert (man.loc[in_class.loc[train, "caption_of"], "label"].to_numpy() == man.loc[train, "label"]).all()
    wrong = {"text": "t", "backend": "shuffled", "source": "nope", "shuffle": "all"}
    bad = {**TINY_SWEEP, "prompts": {**prompts, "x": wrong}}
    failed = snakemake(tmp_path, "-n", "--configfile", str(write_config(tmp_path, bad)), check=False)
    assert failed.returncode != 0 and "prompts.x: a shuffled control needs" in failed.stdout + failed.stderr


def _rules_planned(output: str) -> set[str]:
    return {j.split("[")[0] for j in _listed_jobs(output)} - {"all"}


@pytest.mark.slow
def test_reruns_exactly_what_changed(tmp_path):
    """After a finished sweep, each edit plans only the jobs it affects (issue: rerun exactly what changed)."""
    repo, work = tmp_path / "repo", tmp_path / "work"
    repo.mkdir()
    for part in ("Snakefile", "workflow", "config", "envs", "src"):
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy
        copy(
            REPO / part,
            repo / part,
            **({"ignore": shutil.ignore_patterns("*.egg-info", "__pycache__")} if part == "src" else {}),
        )
    env = {"PYTHONPATH": str(repo / "src")}  # the jobs import the copy, which the test edits
    base = {
        **TINY_SWEEP,
        "prompts": {"curated": ONE_PROMPT},  # what an edit reruns is the same for every prompt
        "seeds": 1,
        "targets": ["frozen", "vision"],
        "train": {"max_epochs": 1, "batch_size": 16},
    }
    work.mkdir()

    def plan(cfg: dict) -> str:
        path = write_config(work, cfg)
        return snakemake(work, "-n", "--configfile", str(path), snakefile=repo / "Snakefile", env=env).stdout

    snakemake(
        work, "--cores", "2", "--configfile", str(write_config(work, base)), snakefile=repo / "Snakefile", env=env
    )
    assert "Nothing to be done" in plan(base)
    pkg = repo / "src" / "morphalign"

    # the same checkout in another folder: no job's params or inputs hold a path of the checkout
    moved_repo = shutil.copytree(repo, tmp_path / "moved")
    moved_plan = snakemake(
        work,
        "-n",
        "--configfile",
        str(write_config(work, base)),
        snakefile=moved_repo / "Snakefile",
        env={"PYTHONPATH": str(moved_repo / "src")},
    ).stdout
    assert "Nothing to be done" in moved_plan, _rules_planned(moved_plan)

    # a comment and a docstring edit in every module: nothing to do
    originals = {f: f.read_text() for f in pkg.rglob("*.py")}
    for f, text in originals.items():
        f.write_text("# an added comment\n" + text.replace('"""', '"""Edited. ', 1) + "\n# another\n")
    assert "Nothing to be done" in plan(base)
    for f, text in originals.items():
        f.write_text(text)

    # a new function in the evaluation module: evaluation and the table only
    metrics = pkg / "evaluate" / "metrics.py"
    metrics.write_text(originals[metrics] + "\n\ndef extra_metric(x):\n    return x\n")
    # geometry reads runs.csv; the report's pages of Table 1, the geometry, the paper and provenance read the tables
    # and the metrics files
    pages = {"table_page", "paper_comparison", "provenance_page"}
    assert _rules_planned(plan(base)) == {"evaluate", "aggregate", "geometry", *pages}
    metrics.write_text(originals[metrics])

    upstream = {"dataset", "tiny_model", "captions", "pixel_cache", "token_cache"}
    assert not _rules_planned(plan({**base, "evaluate": {"knn_k": 3}})) & (upstream | {"finetune", "embed"})
    lr = _rules_planned(plan({**base, "train": {**base["train"], "lr": 5e-4}}))
    assert "finetune" in lr and not lr & upstream

    # where things are, and the settings of a source that is not selected, are not what they are
    moved = {
        **base,
        "data_mirror": str(tmp_path / "mirror"),
        "model": {**base["model"], "cache_dir": str(tmp_path / "hf")},
        "dataset": {**base["dataset"], "mirabest": {"release": "full"}, "folder": {"crop_size": 64}},
    }
    assert "Nothing to be done" in plan(moved)

    # editing the launcher reruns the fine-tunes (and what reads them), not the frozen baselines or the caches
    launch = pkg / "train" / "launch.py"
    launch.write_text(originals[launch].replace("if gpus >= 1 else", "if gpus > 0 else"))
    jobs = _listed_jobs(plan(base))
    assert {j for j in jobs if j.startswith("finetune")} == {"finetune[run=curated/vision/seed0]"}
    assert not any(j.startswith("embed[run=curated/frozen") for j in jobs)
    assert not {j.split("[")[0] for j in jobs} & upstream
    launch.write_text(originals[launch])

    # the frozen-tower cache changes no number: switched off, every run runs its own towers, to the same metrics
    def measured(path):
        return {k: v for k, v in json.loads(path.read_text()).items() if not k.endswith("_s")}

    before = {path: measured(path) for path in (work / "results" / "runs").rglob("metrics.json")}
    off = {**base, "compute": {"frozen_towers": False}}
    rerun = _rules_planned(plan(off))
    assert {"finetune", "embed", "evaluate"} <= rerun and not rerun & upstream
    # only up to the metrics, which are what is compared (the figures and pages after them ran in the first sweep)
    targets = [str(path.relative_to(work)) for path in before]
    cfg = str(write_config(work, off))
    snakemake(work, *targets, "--cores", "2", "--configfile", cfg, snakefile=repo / "Snakefile", env=env)
    assert len(before) == 2
    for path, metrics in before.items():
        assert measured(path) == metrics, path


def test_jobs_run_the_checkout_they_were_started_from(tmp_path):
    """A copy of the repository, run with --directory elsewhere, runs its own src/ (PYTHONPATH), not the copy that
    is pip-installed in this environment; the conda envs install no morphalign, so this is how jobs find it."""
    checkout = tmp_path / "checkout"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, checkout / rel)
    work = tmp_path / "work"
    work.mkdir()
    cfg = write_config(work, {"dataset": {"val_size": 4, "synthetic": {"n_train": 16, "n_test": 8}}})
    target = "results/data/manifest.csv"
    snakemake(work, target, "--cores", "1", "--configfile", str(cfg), snakefile=checkout / "Snakefile")
    log = (work / "logs" / "dataset.log").read_text()
    assert f"from {(checkout / 'src' / 'morphalign').resolve()}" in log, log[:300]
