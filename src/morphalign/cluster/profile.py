"""The SLURM profile: `init` fills the shipped `profiles/slurm` and writes it where Snakemake looks for profile names.

Snakemake resolves `--profile NAME` in `$XDG_CONFIG_HOME/snakemake/NAME` (default `~/.config/snakemake/NAME`) and
`/etc/xdg/snakemake/NAME`, never in the repository's `profiles/`. `init` writes `<config home>/snakemake/<name>/
config.yaml` from `profiles/slurm/config.yaml`, with the account and partitions filled in, the optional GPU model
set, and `snakefile:` pointing at this checkout, so `snakemake --profile slurm` works from the repository root and
from any other working directory (outputs go to the working directory, as usual).

`placeholders()` is the other half: the workflow calls it at start-up and stops, before any job is submitted, when a
profile's resources still hold a `CHANGE_ME` value (`common.smk`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from morphalign.errors import MorphalignError
from morphalign.io import atomic_path

CHECKOUT = Path(__file__).resolve().parents[3]  # src/morphalign/cluster/profile.py -> the repository
TEMPLATE = CHECKOUT / "profiles" / "slurm" / "config.yaml"
PLACEHOLDER = "CHANGE_ME"
INIT = "python -m morphalign.cluster init --account A --partition P --gpu-partition G"


def config_home(environ: Mapping[str, str] | None = None) -> Path:
    """Snakemake's user profile folder: $XDG_CONFIG_HOME/snakemake, default ~/.config/snakemake."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", str(Path.home()))) / ".config")
    return Path(base) / "snakemake"


def _listed(cmd: list[str]) -> list[str] | None:
    """The lines a SLURM query prints, or None when the command is missing or fails (no accounting daemon)."""
    if shutil.which(cmd[0]) is None:
        return None
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return None
    return sorted({line.strip() for line in proc.stdout.splitlines() if line.strip()})


def check_cluster(account: str, partitions: Iterable[str]) -> list[str]:
    """Raise, listing the valid values, when `sinfo` / `sacctmgr` can answer and a value is not among them.

    Returns notes on what could not be checked."""
    notes = []
    known = _listed(["sinfo", "--noheader", "--format=%R"])
    if known is None:
        notes.append("sinfo unavailable: partitions not checked")
    else:
        for p in partitions:
            if p not in known:
                raise MorphalignError(f"partition {p!r} does not exist on this cluster; sinfo lists: {known}")
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    accounts = _listed(["sacctmgr", "--noheader", "--parsable2", "show", "assoc", f"user={user}", "format=account"])
    if accounts is None:
        notes.append("sacctmgr unavailable (no accounting daemon?): account not checked")
    elif account not in accounts:
        raise MorphalignError(f"account {account!r} is not one of yours; sacctmgr lists: {accounts}")
    return notes


def render(
    template: str,
    account: str,
    partition: str,
    gpu_partition: str,
    gpu_model: str | None,
    status_command: str | None = None,
) -> str:
    """The shipped profile with its placeholders filled, the GPU model set, and the checkout's Snakefile named."""
    values = {"CHANGE_ME_CPU": partition, "CHANGE_ME_GPU": gpu_partition, "CHANGE_ME": account}
    for key, value in values.items():  # the longer names first, so CHANGE_ME does not eat CHANGE_ME_CPU
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", value):
            raise MorphalignError(f"{key.lower()} value {value!r}: use letters, digits, '_', '-' or '.'")
        template = template.replace(f'"{key}"', f'"{value}"')
    if gpu_model:
        if not re.fullmatch(r"[A-Za-z0-9_.]+", gpu_model):
            raise MorphalignError(f"--gpu-model {gpu_model!r}: use letters, digits, '_' or '.' (e.g. a100)")
        template, n = re.subn(r'(?m)^(\s*)# gpu_model: "[^"]*".*$', rf'\1gpu_model: "{gpu_model}"', template)
        if n != 1:
            raise MorphalignError("the profile template has no commented `gpu_model` line to set")
    if status_command:
        template, n = re.subn(
            r"(?m)^# slurm-status-command: sacct.*$", f"slurm-status-command: {status_command}", template
        )
        if n != 1:
            raise MorphalignError("the profile template has no commented `slurm-status-command` line to set")
    if PLACEHOLDER in template:
        raise MorphalignError(f"the profile template still holds {PLACEHOLDER} after filling it")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    head = (
        f"# Written by `python -m morphalign.cluster init` on {stamp} from {TEMPLATE}.\n"
        "# Rerun init with --force to change the account or partitions.\n"
        f"snakefile: {CHECKOUT / 'Snakefile'} # this checkout: the profile works from any working directory\n\n"
    )
    return head + template


def init(
    account: str,
    partition: str,
    gpu_partition: str,
    gpu_model: str | None = None,
    name: str = "slurm",
    force: bool = False,
    check: bool = True,
    home: Path | None = None,
    status_command: str | None = None,
) -> tuple[Path, list[str]]:
    """Write the filled profile to `<config home>/<name>/config.yaml`; return its path and notes on the checks."""
    if not TEMPLATE.is_file():
        raise MorphalignError(f"{TEMPLATE}: the shipped profile is missing; run init from a checkout of the repository")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise MorphalignError(f"--name {name!r}: a profile name is a folder name (letters, digits, '_', '-', '.')")
    target = (home or config_home()) / name / "config.yaml"
    if target.exists() and not force:
        raise MorphalignError(f"{target} exists; pass --force to overwrite it")
    notes = check_cluster(account, {partition, gpu_partition}) if check else ["checks skipped (--no-check)"]
    text = render(TEMPLATE.read_text(), account, partition, gpu_partition, gpu_model, status_command)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        Path(tmp).write_text(text)
    return target, notes


def placeholders(
    default: Iterable[tuple[str, object]], per_rule: Mapping[str, Iterable[tuple[str, object]]]
) -> list[str]:
    """`key=value` (and `rule: key=value`) for every resource whose value still holds a placeholder."""

    def raw(value: object) -> str:  # Snakemake's Resource keeps the profile's text in `raw`
        return str(getattr(value, "raw", value))

    found = [f"default-resources: {k}={raw(v)}" for k, v in default if PLACEHOLDER in raw(v)]
    for rule, items in per_rule.items():
        found += [f"set-resources: {rule}: {k}={raw(v)}" for k, v in items if PLACEHOLDER in raw(v)]
    return found


def profile_files(argv: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """The config.yaml of each `--profile` on the command line (or $SNAKEMAKE_PROFILE), as Snakemake resolves it."""
    environ = os.environ if environ is None else environ
    names = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--profile"]
    names += [a.split("=", 1)[1] for a in argv if a.startswith("--profile=")]
    if not names and environ.get("SNAKEMAKE_PROFILE"):
        names = [environ["SNAKEMAKE_PROFILE"]]
    out = []
    start = Path(environ.get("PWD", "."))  # where snakemake was started: --directory has changed the cwd since
    for n in names:
        for folder in (start / n, config_home(environ) / n, Path("/etc/xdg/snakemake") / n):
            if (folder / "config.yaml").is_file():
                out.append(str((folder / "config.yaml").resolve()))
                break
    return out


def placeholder_error(found: list[str], files: list[str]) -> str:
    where = " or ".join(files) if files else "the profile given with --profile"
    return (
        f"the SLURM profile still holds placeholders ({'; '.join(found)}) in {where}; nothing was submitted. "
        f"Write a filled profile with `{INIT}` (then `snakemake --profile slurm`), or edit those keys."
    )
