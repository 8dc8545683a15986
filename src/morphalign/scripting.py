"""Glue for the workflow's thin scripts and the CLIs: output to the rule's log, bad input to a clean exit."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from morphalign.errors import MorphalignError
from morphalign.io import read_json


def code_origin() -> str:
    """Which morphalign a job runs, and from where: the workflow puts its checkout's src/ first on PYTHONPATH."""
    from morphalign import __version__

    return f"morphalign {__version__} from {Path(__file__).resolve().parent}"


@contextlib.contextmanager
def logged(log_path: str | Path) -> Iterator[None]:
    """Redirect stdout and stderr (progress bars included) to `log_path`.

    A `MorphalignError` is written to the log and to the real stderr as one clear line, and the script exits 1.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    real_stderr = sys.stderr
    with open(log_path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        print(code_origin(), file=fh, flush=True)
        try:
            yield
        except MorphalignError as exc:
            print(f"error: {exc}", file=fh)
            print(f"morphalign error: {exc} (log: {log_path})", file=real_stderr)
            fh.flush()
            sys.exit(1)
        except Exception:
            traceback.print_exc(file=fh)
            raise


def run_cli(body: Callable[[], object]) -> int:
    """Run a CLI's body; a MorphalignError becomes one `error: ...` line on stderr and exit status 1."""
    print(code_origin(), file=sys.stderr, flush=True)
    try:
        body()
    except MorphalignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def add_run_settings(ap: argparse.ArgumentParser, required: bool = True) -> None:
    """The options that give a CLI its run's settings: inline JSON (what the workflow passes), or a JSON file."""
    group = ap.add_mutually_exclusive_group(required=required)
    group.add_argument("--run-json", default=None, help="the run's settings as JSON (the workflow passes them inline)")
    group.add_argument("--run-config", default=None, help="the run's settings in a JSON file")


def run_settings(args: argparse.Namespace) -> tuple[dict[str, Any], str] | tuple[None, None]:
    """(the run's settings, where they came from for error messages), or (None, None) when neither was given."""
    if args.run_json is not None:
        try:
            data = json.loads(args.run_json)
        except json.JSONDecodeError as exc:
            raise MorphalignError(f"--run-json: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise MorphalignError(f"--run-json: expected a JSON object, got {type(data).__name__}")
        return data, "--run-json"
    if args.run_config is not None:
        return read_json(args.run_config), args.run_config
    return None, None
