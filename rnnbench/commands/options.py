"""The command line's shared vocabulary: exit codes, the parser classes, argument types and
the options several commands take."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn

from rnnbench.errors import InputError
from rnnbench.presets import Size

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EXIT_CODES = (
    "exit codes: 0 success; 1 the command ran but a backend failed, disagreed with the "
    "float64 reference or could not be run, or results could not be written; 2 bad usage "
    "or input (unknown backend or preset, impossible size, a size that does not fit in "
    "memory); 130, 143, 129 interrupted by SIGINT (Ctrl-C), SIGTERM or SIGHUP (nothing of "
    "the run is kept, earlier runs are untouched); see docs/faults.md"
)

ACTIVATION_CHOICES = ["tanh", "sigmoid", "relu", "identity"]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: 'rnnbench run: error: ... (see --help)'."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class HelpFormatter(argparse.HelpFormatter):
    """Appends '(default: X)' to an option's help unless it has no default or names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += " (default: %(default)s)"
        return text


def size(text: str) -> Size:
    """A ``T,B,D,H`` argument."""
    try:
        return Size.parse(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _number(text: str, kind: Callable[[str], Any], noun: str) -> Any:
    """``kind(text)``; an ArgumentTypeError "expected <noun>" if it is not one."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _number(text, int, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _number(text, int, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text, float, "a number")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def results_root(text: str) -> str:
    """A results folder: any non-blank path."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty path")
    return text


def add_backend_option(sub: argparse.ArgumentParser) -> None:
    """``--backend NAME``, repeatable."""
    sub.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help="backend name (see 'rnnbench backends') or 'module:Class', repeatable "
        "(default: every available backend)",
    )


def add_device_option(sub: argparse.ArgumentParser) -> None:
    """``--device cpu|cuda``."""
    sub.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="where the backends run; with cuda, peak memory is device memory and the record "
        "names the GPU, its driver and the frameworks' CUDA versions; backends without the "
        "device are skipped",
    )


def add_threads_option(sub: argparse.ArgumentParser) -> None:
    """``--threads N``."""
    sub.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="thread count of every framework: BLAS pools (threadpoolctl, and "
        "OMP/OPENBLAS/MKL_NUM_THREADS), torch.set_num_threads, and for N=1 XLA's CPU client; "
        "the record states what was in force (default: each library's own)",
    )


def add_output_options(sub: argparse.ArgumentParser) -> None:
    """``--out`` and ``--quiet``, for the commands that write a run folder."""
    sub.add_argument(
        "--out",
        type=results_root,
        default="results",
        help="results root; each run goes to a new folder OUT/runs/<timestamp>-<command>",
    )
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_argument(
        "--clean-partial",
        action="store_true",
        help="remove the .partial-* folders that killed runs (SIGKILL, power loss) left in "
        "OUT/runs; without it they are only reported",
    )


#: the default of --call-timeout: generous, so only a hung backend reaches it
DEFAULT_CALL_TIMEOUT_S = 300.0


def add_call_timeout_option(sub: argparse.ArgumentParser) -> None:
    """``--call-timeout SECONDS``, for the commands that call backends."""
    sub.add_argument(
        "--call-timeout",
        type=positive_float,
        default=DEFAULT_CALL_TIMEOUT_S,
        metavar="SECONDS",
        help="the longest one call into a backend may take; a backend past it is recorded "
        "as failed and not called again in this run",
    )
