"""The ``rnnbench`` command line: builds the parser from ``rnnbench.commands`` and dispatches.

Each command lives in its own module there (parser, settings and driver); this module only
maps what escapes a command to one line on stderr and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from rnnbench.commands import COMMANDS
from rnnbench.commands.options import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    HelpFormatter,
    Parser,
)
from rnnbench.commands.session import fail
from rnnbench.errors import InputError, RnnbenchError, UnknownBackendError
from rnnbench.harness import guard, interrupts


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnbench`` argument parser with a sub-command per module of rnnbench.commands."""
    parser = Parser(
        prog="rnnbench",
        description="Benchmark backends of recurrent networks (Elman, LSTM, GRU) against a "
        "float64 NumPy reference: speed, agreement, memory, gradient decay and a training demo.",
        epilog=EXIT_CODES,
    )
    parser.add_argument(
        "--debug", action="store_true", help="show a full traceback on unexpected errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"rnnbench.commands.{name}")
        sub = subparsers.add_parser(
            module.NAME,
            help=module.SUMMARY.replace("%", "%%"),  # argparse %-formats help, not descriptions
            description=module.SUMMARY,
            epilog=EXIT_CODES,
            formatter_class=HelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(handler=module.execute)
    return parser


def run() -> None:
    """The ``rnnbench`` program: ``main()`` and exit with its code. If a backend call is
    still running in a worker thread (hung, or past --call-timeout), the process exits at
    once: waiting could take forever, and a framework torn down under a running call can
    abort the process."""
    code = main()
    if guard.unfinished_workers():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    try:
        with interrupts.handling():
            return args.handler(args)
    except KeyboardInterrupt as exc:
        if sys.stderr.isatty():
            print(file=sys.stderr)  # leave the progress bar's line
        code, by = EXIT_INTERRUPTED, ""
        if isinstance(exc, interrupts.Interrupted):
            code, by = exc.exit_code, f" by {exc}"
        fail(f"interrupted{by}; nothing of this run was kept (earlier runs are untouched)")
        return code
    except SystemExit as exc:  # a plugin called sys.exit outside a guarded backend call
        fail(f"unexpected exit (SystemExit: {exc.code!r}) inside the command; nothing was kept")
        return EXIT_FAILED
    except (InputError, UnknownBackendError) as exc:
        fail(str(exc))
        return EXIT_USAGE
    except (RnnbenchError, OSError) as exc:
        if args.debug:
            raise
        fail(str(exc))
        return EXIT_FAILED
    except Exception as exc:
        if args.debug:
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for a traceback)")
        return EXIT_FAILED
