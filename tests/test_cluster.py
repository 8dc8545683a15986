"""`python -m morphalign.cluster init`: a filled SLURM profile where `snakemake --profile slurm` finds it."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
import yaml

from conftest import REPO
from morphalign.cluster.__main__ import main
from morphalign.cluster.profile import placeholders, profile_files
from test_workflow import SNAKEFILE, SNAKEMAKE, job_counts


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def _fake(bin_dir, name, output, status=0):
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\nprintf '{output}'\nexit {status}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_init_writes_a_complete_profile(xdg, capsys):
    args = ["init", "--account", "astro01", "--partition", "cpu", "--gpu-partition", "gpu", "--gpu-model", "a100"]
    assert main([*args, "--no-check"]) == 0
    path = xdg / "snakemake" / "slurm" / "config.yaml"
    assert f"wrote {path}" in capsys.readouterr().out
    text = path.read_text()
    assert "CHANGE_ME" not in text
    profile = yaml.safe_load(text)
    assert profile["executor"] == "slurm" and profile["snakefile"] == str(REPO / "Snakefile")
    assert profile["default-resources"]["slurm_account"] == "astro01"
    assert profile["default-resources"]["slurm_partition"] == "cpu"
    assert profile["set-resources"]["finetune"] == {"slurm_partition": "gpu", "gpu_model": "a100"}
    assert "slurm-status-command" not in profile  # sacct, the plugin's default, unless asked


def test_init_refuses_to_overwrite_without_force(xdg, capsys):
    args = ["init", "--account", "a1", "--partition", "cpu", "--gpu-partition", "gpu", "--no-check"]
    assert main(args) == 0
    assert main([*args[:2], "a2", *args[3:]]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert "a1" in (xdg / "snakemake" / "slurm" / "config.yaml").read_text()
    assert main([*args[:2], "a2", *args[3:], "--force", "--name", "slurm", "--status-command", "squeue"]) == 0
    profile = yaml.safe_load((xdg / "snakemake" / "slurm" / "config.yaml").read_text())
    assert profile["default-resources"]["slurm_account"] == "a2" and profile["slurm-status-command"] == "squeue"


def test_init_checks_partitions_and_accounts_with_the_cluster(xdg, tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    _fake(bin_dir, "sinfo", "cpu\\ngpu\\ndebug\\n")
    _fake(bin_dir, "sacctmgr", "astro01\\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    base = ["init", "--account", "astro01", "--partition", "cpu"]
    assert main([*base, "--gpu-partition", "gpus"]) == 1
    assert (
        "partition 'gpus' does not exist on this cluster; sinfo lists: ['cpu', 'debug', 'gpu']"
        in capsys.readouterr().err
    )
    assert main(["init", "--account", "other", "--partition", "cpu", "--gpu-partition", "gpu"]) == 1
    assert "account 'other' is not one of yours; sacctmgr lists: ['astro01']" in capsys.readouterr().err
    assert not (xdg / "snakemake" / "slurm").exists()  # nothing half-written
    assert main([*base, "--gpu-partition", "gpu"]) == 0
    _fake(bin_dir, "sacctmgr", "", status=1)  # no accounting daemon: the account cannot be checked, and it says so
    assert main([*base, "--gpu-partition", "gpu", "--force", "--name", "other"]) == 0
    assert "sacctmgr unavailable" in capsys.readouterr().out


def test_bad_values_are_refused(xdg, capsys):
    assert main(["init", "--account", "a b", "--partition", "cpu", "--gpu-partition", "gpu", "--no-check"]) == 1
    assert "use letters, digits" in capsys.readouterr().err


def test_placeholders_are_found_by_key_and_rule():
    class Raw:
        def __init__(self, raw):
            self.raw = raw

    found = placeholders(
        [("mem_mb", 4000), ("slurm_account", Raw("CHANGE_ME"))], {"finetune": [("slurm_partition", "CHANGE_ME_GPU")]}
    )
    assert found == [
        "default-resources: slurm_account=CHANGE_ME",
        "set-resources: finetune: slurm_partition=CHANGE_ME_GPU",
    ]
    assert placeholders([("slurm_account", "astro01")], {}) == []


def test_profile_files_resolve_as_snakemake_does(tmp_path, xdg):
    (xdg / "snakemake" / "slurm").mkdir(parents=True)
    (xdg / "snakemake" / "slurm" / "config.yaml").write_text("executor: slurm\n")
    env = {"XDG_CONFIG_HOME": str(xdg), "PWD": str(REPO)}
    assert profile_files(["snakemake", "--profile", "slurm"], env) == [str(xdg / "snakemake" / "slurm" / "config.yaml")]
    assert profile_files(["snakemake", "--profile=profiles/slurm"], env) == [str(REPO / "profiles/slurm/config.yaml")]


def _dry_run(workdir, *args, env=None):
    cmd = [*SNAKEMAKE, "-n", "--directory", str(workdir), *args, "--configfile", str(REPO / "config" / "paper.yaml")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)


def test_placeholders_stop_the_workflow_before_anything_is_submitted(tmp_path):
    proc = _dry_run(tmp_path, "-s", str(SNAKEFILE), "--profile", str(REPO / "profiles" / "slurm"))
    assert proc.returncode != 0
    err = proc.stderr
    assert "still holds placeholders (default-resources: slurm_account=CHANGE_ME;" in err
    assert "set-resources: finetune: slurm_partition=CHANGE_ME_GPU" in err
    assert f"in {REPO / 'profiles' / 'slurm' / 'config.yaml'}" in err and "python -m morphalign.cluster init" in err
    assert "nothing was submitted" in err and not (tmp_path / ".snakemake" / "slurm_logs").exists()


def test_profile_by_name_after_init_plans_the_sweep_from_any_directory(tmp_path, xdg):
    assert main(["init", "--account", "astro01", "--partition", "cpu", "--gpu-partition", "gpu", "--no-check"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _dry_run(elsewhere, "--profile", "slurm", env={"XDG_CONFIG_HOME": str(xdg)})  # no -s: the profile says
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    finetune = [b for b in out.split("rule ") if b.startswith("finetune:")]
    assert len(finetune) == 18
    for block in finetune:
        resources = block.split("resources: ", 1)[1].splitlines()[0]
        for item in ("gpu=1", "mem_mb=32000", "runtime=240", "slurm_partition=gpu", "slurm_account=astro01"):
            assert item in resources, (item, resources)
    assert job_counts(out)["evaluate"] == 20
