"""The `keel` command: one-off admin tasks, a shell, logs and status, all from the stack outputs.

Each subcommand lives in its own module exposing `add_parser(subparsers)`, which sets `func`
(called as `func(args, context) -> exit code`, or `func(args)` if it takes one argument). Errors the user can act on end as one or two
lines and exit code 1 or 2; nothing the user sees is a traceback unless they ask with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import traceback

from .context import Context
from .errors import KeelError
from .failures import explain

# In the order `keel --help` lists them. `check` (the offline policy check) is optional here:
# the CLI works without it.
COMMANDS = ("run", "shell", "logs", "status", "check", "cost", "maintenance", "promote", "rollback")
OPTIONAL_COMMANDS = frozenset({"check", "cost", "maintenance"})
INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


class Parser(argparse.ArgumentParser):
    """argparse, with its errors cut to two lines: what is wrong, and where the usage is."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message}\nkeel: see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="keel",
        description="Run admin commands as one-off ECS tasks, open a shell, read logs and status, "
        "for a Keel stack. Every fact comes from the stack outputs (pulumi stack output, or --outputs FILE).",
        epilog="Add --debug anywhere before `--` to see a traceback when something fails.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMANDS:
        module = _command_module(name)
        if module is not None:
            module.add_parser(subparsers)
    return parser


def _command_module(name: str):
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if name in OPTIONAL_COMMANDS and error.name == f"{__name__}.{name}":
            return None
        raise


def main(argv: list[str] | None = None, context: Context | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _take_debug_flag(argv)
    context = context or Context()
    context.debug = debug
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:  # --help, or an argument error already printed
            return done.code if isinstance(done.code, int) else 0
        if not getattr(args, "func", None):
            parser.print_help(context.stderr)
            return 2
        return dispatch(args.func, args, context)
    except KeyboardInterrupt:
        context.err("keel: interrupted")
        return INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 0  # `keel logs | head`: the reader left, which is not an error
    except Exception as error:  # noqa: BLE001 - the one place every failure becomes a message
        if debug:
            traceback.print_exc(file=context.stderr)
        known = error if isinstance(error, KeelError) else explain(error)
        if known is None:
            context.err(f"keel: unexpected error: {type(error).__name__}: {error}")
            context.err("keel: rerun with --debug to see the traceback, and report it if it looks like a bug")
            return 1
        context.err(f"keel: {known.message}")
        if known.hint:
            context.err(f"keel: {known.hint}")
        return known.exit_code


def dispatch(func, args: argparse.Namespace, context: Context) -> int:
    """Calls `func(args, context)`, or `func(args)` for a command that needs no context."""
    takes_context = len(inspect.signature(func).parameters) >= 2
    code = func(args, context) if takes_context else func(args)
    return 0 if code is None else int(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not complain about the closed pipe."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a real file (tests): nothing will flush into a closed pipe


def _take_debug_flag(argv: list[str]) -> bool:
    """--debug is accepted anywhere before `--`, so `keel run --debug ...` works too."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--debug" not in argv[:end]:
        return False
    argv.remove("--debug")
    return True
