"""`python -m harness`: the top-level parser and the dispatch to a command's handler.

The subcommands' parsers are in harness/cli_args.py; each command lives in
harness/commands/. Parsers are built without importing torch, so `--help` is instant. A
command handler is named as "module:function" and imported only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tomllib
from collections.abc import Sequence
from typing import Any

from harness import cli_args
from harness.errors import HarnessError


def parse_options(pairs: Sequence[str] | None, flag: str = "--set") -> dict[str, Any]:
    """["width=0.25", "name=x"] -> {"width": 0.25, "name": "x"}; values are read as TOML."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"{flag} {pair!r}: expected KEY=VALUE, e.g. {flag} width=0.25")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word such as a registry name
        out[key.strip()] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Which spectrogram front-end and which network classify spoken commands "
                    "best, and at what speed?",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (cli_args.add_data, cli_args.add_list, cli_args.add_training,  # --help's order
                cli_args.add_sweep, cli_args.add_reports, cli_args.add_trial_tools,
                cli_args.add_inspect):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module, _, func = args.handler.partition(":")
    try:
        handler = getattr(importlib.import_module(module), func)
        return int(handler(args) or 0)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (harness.signals)
        from harness.signals import exit_status

        status, what = exit_status(exc)
        if args.command == "sweep":
            what += ": its running trials were failed with that reason and queued again"
        elif args.command == "ui":
            what += ": the MLflow UI stopped, its port free"
        print(what, file=sys.stderr)
        return status
    except Exception as exc:  # a full disk where no command said it better: one line too
        from harness.disk import full_line, is_full

        if not is_full(exc):
            raise
        print(f"error: {full_line(exc, f'harness {args.command}')}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
