#!/usr/bin/env python3
"""Train LTX-2 LoRAs from ai-toolkit style config files.

    python run.py CONFIG [CONFIG ...] [-r] [-n NAME] [-l FILE] [--restart] [--check] [--verbose]
    python run.py --validate [--json] CONFIG [CONFIG ...]
    python run.py --schema

Configs are loaded and validated before torch or any model code is imported, so a bad
config fails in well under a second. Exit codes: 0 ok, 2 bad input (config, paths, a model
not in the local Hugging Face cache, a read-only or non-writable output, a dataset --check
finds problems in), 1 a run that failed (a full disk too) or an unexpected error, 130
stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM; a stopped run saves first, and no
further config is started. --validate and --check return 0 or 2 (1 only for an unexpected
error); the README's "Exit codes" section has the full table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from pathlib import Path
from typing import TextIO

from toolkit.configuration.loader import ConfigValidationError, config_json_schema, load_config
from toolkit.errors import ConfigError, ToolkitError, UserInputError
from toolkit.run.preflight import config_problems, problems_text, raise_problems
from toolkit.run.signals import InterruptOnSignals

TRAINER_MODULE = "jobs.process.BaseSDTrainProcess"
CHECK_MODULE = "toolkit.run.file_check"  # --check: the dataset readers (torch), no trainer or model


def build_parser() -> argparse.ArgumentParser:
    """The command line, ai-toolkit's flags first."""
    p = argparse.ArgumentParser(
        prog="run.py", description="Train an LTX-2 character LoRA from config files.")
    p.add_argument("config", nargs="*", metavar="CONFIG",
                   help="config file(s): .yaml, .yml, .json or .jsonc, run in order")
    p.add_argument("-r", "--recover", action="store_true",
                   help="continue with the next config when one fails")
    p.add_argument("-n", "--name", default=None,
                   help="set config.name (and so the [name] tag) for every config")
    p.add_argument("-l", "--log", default=None, metavar="FILE",
                   help="also write everything printed to FILE (appended)")
    p.add_argument("--restart", action="store_true",
                   help="move an existing run in the output folder aside (to <name>.old-<date>) and start over")
    p.add_argument("--check", action="store_true",
                   help="check the config, the model's paths and every dataset file, load no model, then stop; "
                        "exit 0 if the data can train, 2 if a file has a problem (listed by file)")
    p.add_argument("--schema", action="store_true",
                   help="print the config JSON Schema and exit")
    p.add_argument("--validate", action="store_true",
                   help="check the config file(s) and what they need on this machine (model files or the "
                        "hub id in the local Hugging Face cache, optimizer package, GPU), load nothing; "
                        "exit 0 if ready, 2 if not")
    p.add_argument("--json", action="store_true",
                   help="with --validate: print {ok, issues, warnings} as JSON")
    p.add_argument("--verbose", action="store_true",
                   help="print tracebacks and extra diagnostics")
    return p


class _Tee:
    """A text stream that writes to a console stream and a log file."""

    def __init__(self, stream: TextIO, log: TextIO):
        self._stream, self._log = stream, log

    def write(self, text: str) -> int:
        self._stream.write(text)
        self._log.write(text)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()
        self._log.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _report(exc: BaseException, verbose: bool) -> int:
    """Print one error line (traceback first with --verbose); return the exit code."""
    if verbose:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if isinstance(exc, ToolkitError):
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"error: unexpected failure: {type(exc).__name__}: {exc} "
          f"(run with --verbose for the traceback)", file=sys.stderr)
    return 1


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


def _validate(paths: list[str], name: str | None, as_json: bool) -> int:
    """--validate: check each config, and what the machine must provide for it (optimizer
    package, device, model folder); never imports model code."""
    all_ok = True
    for path in paths:
        issues: list[dict] = []
        warnings: list[str] = []
        error: ConfigError | None = None
        try:
            loaded = load_config(path, name)
            warnings = loaded.warnings
            problems = _preflight(loaded)
            if problems:
                issues = [{"path": p.path, "message": p.text} for p in problems]

                error = ConfigError(f"{path}: {problems_text(problems)}")
        except ConfigValidationError as e:
            issues, warnings = [i.as_dict() for i in e.issues], e.warnings
            error = e
        except ConfigError as e:  # unreadable file, syntax error
            issues, error = [{"path": "", "message": str(e)}], e
        ok = not issues
        all_ok &= ok
        if as_json:
            print(json.dumps({"path": path, "ok": ok, "issues": issues, "warnings": warnings}))
            continue
        _warn(warnings)
        if ok:
            print(f"ok: {path} ({loaded.name})")
        else:
            print(f"error: {error}", file=sys.stderr)
    return 0 if all_ok else 2


def _preflight(loaded) -> list:
    """Machine and file checks of every process (optimizer package, device, model folder)."""
    return [p for i, proc in enumerate(loaded.job.config.process) for p in config_problems(proc, i)]


def _run_one(path: str, args: argparse.Namespace) -> None:
    """Load one config, then hand each process to the file check (--check) or the trainer, each
    imported only now: the config and the machine are checked before torch loads."""
    loaded = load_config(path, args.name)
    _warn(loaded.warnings)
    if not args.check:  # before the trainer (and torch) is imported: a missing package fails in a second
        raise_problems(_preflight(loaded))
    if args.check:
        checker = importlib.import_module(CHECK_MODULE)
        for process in loaded.job.config.process:
            checker.check_process(process)
        return
    trainer = importlib.import_module(TRAINER_MODULE)
    for process in loaded.job.config.process:
        trainer.run_process(
            process,
            job_name=loaded.name,
            config_path=loaded.path,
            raw_config=loaded.raw,
            restart=args.restart,
        )


def _run_all(args: argparse.Namespace) -> int:
    first_failure = 0
    for index, path in enumerate(args.config):
        try:
            _run_one(path, args)
            continue
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none swallowed
            code = _report(exc, args.verbose)
        first_failure = first_failure or code
        if not args.recover:
            return code
        if index + 1 < len(args.config):
            print(f"continuing with the next config (--recover): {args.config[index + 1]}",
                  file=sys.stderr)
    return first_failure


def _open_log(path: str) -> TextIO:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a", encoding="utf-8", buffering=1)
    except OSError as e:
        raise UserInputError(f"cannot open the log file {path}: {e.strerror or e}") from e


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.schema:
        print(json.dumps(config_json_schema(), indent=2))
        return 0
    if not args.config:
        parser.error("give at least one CONFIG file (or --schema)")
    if args.json and not args.validate:
        parser.error("--json goes with --validate")
    saved = sys.stdout, sys.stderr
    log: TextIO | None = None
    try:
        if args.log:
            log = _open_log(args.log)
            sys.stdout, sys.stderr = _Tee(saved[0], log), _Tee(saved[1], log)
        if args.validate:
            return _validate(args.config, args.name, args.json)
        with InterruptOnSignals():
            return _run_all(args)
    except KeyboardInterrupt as exc:
        name = getattr(exc, "signal_name", "SIGINT")
        how = "Ctrl-C" if name == "SIGINT" else name
        if getattr(exc, "saved", False):  # the run saved its step first: a clean stop
            print(f"stopped by {how}; the checkpoint is saved", file=sys.stderr)
        else:
            print(f"interrupted ({how}): stopped", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except Exception as exc:  # noqa: BLE001 - reported as one line, traceback with --verbose
        return _report(exc, args.verbose)
    finally:
        sys.stdout, sys.stderr = saved
        if log is not None:
            log.close()


if __name__ == "__main__":
    sys.exit(main())
