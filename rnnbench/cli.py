"""The ``rnnbench`` command: ``run``, ``decay``, ``train`` and ``backends``.

This module parses the command line, picks the backends, and for each command calls its
driver (``bench`` for run, ``decay_study`` for decay, ``train``), writes a run folder
atomically (``results``) through ``report``, prints a summary and maps what happened to an
exit code. Failures of one backend are recorded and the command goes on with the others.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from rnnbench import bench, decay_study, machine, report, timing
from rnnbench.bench import OVERHEAD_SIZE, RunSettings
from rnnbench.errors import (
    InputError,
    RnnbenchError,
    UnknownBackendError,
)
from rnnbench.interface import Backend
from rnnbench.presets import DEFAULT_PRESET, PRESETS, DecaySettings, Size
from rnnbench.problems import DTYPES
from rnnbench.progress import Progress
from rnnbench.registry import backend_names, list_backends, resolve_backend
from rnnbench.report import Row
from rnnbench.results import new_run_folder
from rnnbench.status import failure, status_row
from rnnbench.train import BASELINE_LOSS, SCENARIOS, train

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# -- command line ----------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: 'rnnbench run: error: ... (see --help)'."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Appends '(default: X)' to an option's help unless it has no default or names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += " (default: %(default)s)"
        return text


def _size(text: str) -> Size:
    try:
        return Size.parse(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _number(text: str, kind: Callable[[str], Any], noun: str) -> Any:
    """``kind(text)``; an ArgumentTypeError "expected <noun>" if it is not one."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None


def _non_negative_int(text: str) -> int:
    value = _number(text, int, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


EXIT_CODES = (
    "exit codes: 0 success; 1 the command ran but a backend failed, disagreed with the "
    "float64 reference or could not be run, or results could not be written; 2 bad usage "
    "or input (unknown backend or preset, impossible size); 130 interrupted (Ctrl-C: "
    "nothing of the run is kept, earlier runs are untouched)"
)


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnbench`` argument parser with its four sub-commands."""
    parser = _Parser(
        prog="rnnbench",
        description="Benchmark backends of one recurrent network against a float64 NumPy "
        "reference: speed, agreement, memory, gradient decay and a training demo.",
        epilog=EXIT_CODES,
    )
    parser.add_argument(
        "--debug", action="store_true", help="show a full traceback on unexpected errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, handler: Callable[[argparse.Namespace], int]):
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=EXIT_CODES,
            formatter_class=_HelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    run = command(
        "run",
        "Time forward and BPTT of every available backend over a size sweep, check each "
        "against the float64 reference, measure BPTT's peak memory and gradient decay, and "
        "write a run folder (CSV, JSON, Markdown, PNG) under OUT/runs.",
        command_run,
    )
    _backend_option(run)
    presets_help = "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values())
    run.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=DEFAULT_PRESET,
        help=f"size sweep and repeat counts (default: {DEFAULT_PRESET}); {presets_help}",
    )
    run.add_argument(
        "--size",
        type=_size,
        action="append",
        metavar="T,B,D,H",
        help="a custom size (sequence length, batch, input, hidden), repeatable; replaces "
        "the preset's sizes",
    )
    run.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="precision of the timed runs"
    )
    run.add_argument(
        "--activation",
        choices=["tanh", "sigmoid", "relu", "identity"],
        default="tanh",
        help="cell activation of the timed runs",
    )
    run.add_argument(
        "--repeats", type=_positive_int, help="timed calls per size (default: the preset's)"
    )
    run.add_argument(
        "--warmup",
        type=_non_negative_int,
        help="untimed calls after warm_up and the first call (default: the preset's)",
    )
    run.add_argument(
        "--max-time",
        type=_positive_float,
        metavar="SECONDS",
        help="time budget per phase (forward, BPTT) of one backend at one size: a slow "
        f"backend gets fewer timed calls, never fewer than {timing.MIN_REPEATS} "
        "(default: the preset's)",
    )
    run.add_argument("--seed", type=_non_negative_int, default=0, help="data seed")
    run.add_argument("--no-decay", action="store_true", help="skip the gradient-decay section")
    _common_options(run)

    dec = command(
        "decay",
        "Gradient-decay curves ||dL/dh_(T-k)|| / ||dL/dh_T|| against k per backend, "
        "activation and alpha (W_hh = alpha * Q), beside theory (alpha^k for the identity, "
        "Pascanu's bound (gamma*alpha)^k otherwise), with fitted rates, a vanishing/stable/"
        "exploding verdict, over/underflow points and agreement with the float64 reference.",
        command_decay,
    )
    defaults = DecaySettings()
    _backend_option(dec)
    dec.add_argument(
        "--size",
        type=_size,
        default=defaults.size,
        metavar="T,B,D,H",
        help="problem size (default: T=1000 B=1 D=64 H=64)",
    )
    dec.add_argument(
        "--activation",
        action="append",
        choices=["tanh", "sigmoid", "relu", "identity"],
        help=f"activation, repeatable (default: {', '.join(defaults.activations)})",
    )
    dec.add_argument(
        "--alpha",
        action="append",
        type=_positive_float,
        help=f"scale of W_hh = alpha * Q, repeatable (default: "
        f"{', '.join(map(str, defaults.alphas))})",
    )
    dec.add_argument("--dtype", choices=DTYPES, default=defaults.dtype, help="precision")
    dec.add_argument("--seed", type=_non_negative_int, default=0, help="data seed")
    _common_options(dec)

    tr = command(
        "train",
        "Gradient descent on a long-range task with every backend: the loss curve per "
        "backend and scenario (vanishing gradients with a long lag; exploding gradients with "
        "alpha > 1, without and with global-norm clipping).",
        command_train,
    )
    _backend_option(tr)
    scenario_help = "; ".join(f"{s.name}: {s.shows}" for s in SCENARIOS.values())
    tr.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help=f"scenario, repeatable (default: all; {scenario_help})",
    )
    tr.add_argument("--steps", type=_positive_int, default=300, help="SGD steps per run")
    tr.add_argument("--lr", type=_positive_float, help="learning rate (default: the scenario's)")
    tr.add_argument(
        "--clip",
        type=_positive_float,
        help="global-norm clipping bound for every scenario (default: the scenario's)",
    )
    tr.add_argument(
        "--truncate",
        type=_positive_int,
        help="truncated BPTT window for every scenario (default: full BPTT)",
    )
    tr.add_argument("--lag", type=_positive_int, help="sequence length (default: the scenario's)")
    tr.add_argument(
        "--task",
        choices=["recall", "adding"],
        help="recall the first input after the lag, or the adding problem (default: recall)",
    )
    tr.add_argument("--dtype", choices=DTYPES, help="precision (default: float32)")
    tr.add_argument("--seed", type=_non_negative_int, help="seed of data and initial weights")
    _common_options(tr)

    back = command(
        "backends",
        "List every discovered backend with its availability, capabilities and version, "
        "and why an unavailable one cannot run.",
        command_backends,
    )
    back.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _backend_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help="backend name (see 'rnnbench backends') or 'module:Class', repeatable "
        "(default: every available backend)",
    )


def _common_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--out",
        default="results",
        help="results root; each run goes to a new folder OUT/runs/<timestamp>-<command>",
    )
    sub.add_argument("--quiet", action="store_true", help="no progress bar")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        if sys.stderr.isatty():
            print(file=sys.stderr)  # leave the progress bar's line
        _fail("interrupted; nothing of this run was kept (earlier runs are untouched)")
        return EXIT_INTERRUPTED
    except (InputError, UnknownBackendError) as exc:
        _fail(str(exc))
        return EXIT_USAGE
    except (RnnbenchError, OSError) as exc:
        if args.debug:
            raise
        _fail(str(exc))
        return EXIT_FAILED
    except Exception as exc:
        if args.debug:
            raise
        _fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for a traceback)")
        return EXIT_FAILED


def _fail(message: str) -> None:
    print(f"rnnbench: error: {' '.join(message.split())}", file=sys.stderr)


# -- backends ----------------------------------------------------------------------------------
@dataclass
class Selected:
    """A backend chosen for a command: the instance, or None with the reason it cannot run
    and its ``status`` ("skipped" or "failed", the registry's availability policy)."""

    name: str
    backend: Backend | None
    reason: str = ""
    requested: bool = False
    status: str = "ok"


def select_backends(names: Sequence[str] | None) -> list[Selected]:
    """The backends named (or every known one), resolved by ``registry.resolve_backend``;
    UnknownBackendError for an unknown name."""
    requested = names is not None
    selected = []
    for name in dict.fromkeys(names or backend_names()):
        found = resolve_backend(name)
        selected.append(Selected(name, found.backend, found.reason, requested, found.status))
    return selected


def _runnable(selection: Sequence[Selected]) -> dict[str, Backend]:
    """The selected backends that could be constructed, by name."""
    return {s.name: s.backend for s in selection if s.backend is not None}


def _unrunnable_rows(selection: Sequence[Selected]) -> list[Row]:
    """A row per backend that cannot run: "skipped" (absent here) or "failed" (to load)."""
    return [
        status_row(s.name, "load" if s.status == "failed" else "", s.status, s.reason)
        for s in selection
        if s.backend is None
    ]


def _backends_record(selection: Sequence[Selected]) -> list[Row]:
    return [
        {"name": s.name, "available": s.backend is not None, "reason": s.reason} for s in selection
    ]


def _exit_code(selection: Sequence[Selected], tables: dict[str, list[Row]]) -> int:
    """EXIT_FAILED (with a one-line reason on stderr) if anything failed, else EXIT_OK."""
    problems = [
        f"{r['backend']} {r['task']}: {r['status']}".strip()
        for r in tables["status"]
        if r["status"] in ("failed", "disagrees")
    ]
    problems += [
        f"{s.name}: not available" for s in selection if s.requested and s.status == "skipped"
    ]
    if problems:
        _fail("; ".join(problems))
        return EXIT_FAILED
    return EXIT_OK


def _settings_record(settings: Any) -> dict[str, Any]:
    record = dict(vars(settings))
    for key, value in record.items():
        if isinstance(value, Size):
            record[key] = value.label
        elif isinstance(value, tuple) and value and isinstance(value[0], Size):
            record[key] = [s.label for s in value]
    return record


# -- commands ----------------------------------------------------------------------------------
def command_backends(args: argparse.Namespace) -> int:
    """Print every discovered backend."""
    rows = [
        {
            "backend": info.name,
            "available": info.available,
            "version": info.version or "-",
            "dtypes": ",".join(info.dtypes),
            "activations": ",".join(info.activations),
            "devices": ",".join(info.devices),
            "truncation": info.supports_truncation if info.available else None,
            "target": info.target,
            "reason": info.reason,
            "warning": info.warning,
        }
        for info in list_backends()
    ]
    for row in rows:
        if row["warning"]:
            print(f"rnnbench: warning: {row['warning']}", file=sys.stderr)
    if args.json:
        print(report.json_text(rows))
        return EXIT_OK
    columns = ["backend", "available", "version", "dtypes", "activations", "devices", "truncation"]
    print(report.text_table(rows, columns))
    for row in rows:
        if not row["available"] and not row["warning"]:
            print(f"{row['backend']}: {row['reason']}")
    return EXIT_OK


def command_run(args: argparse.Namespace) -> int:
    """Speed, agreement, memory (and decay) for every selected backend over the sizes."""
    preset = PRESETS[args.preset]
    settings = RunSettings(
        sizes=tuple(args.size or preset.sizes),
        dtype=args.dtype,
        activation=args.activation,
        repeats=args.repeats or preset.repeats,
        warmup=preset.warmup if args.warmup is None else args.warmup,
        budget_s=preset.budget_s if args.max_time is None else args.max_time,
        seed=args.seed,
    )
    bench.check_settings(settings)
    selection = select_backends(args.backend)
    backends = _runnable(selection)
    decay_settings = None if args.no_decay else DecaySettings()
    tasks = bench.task_count(settings, len(backends), decay_settings)
    progress = Progress(tasks + 1, enabled=not args.quiet)
    started = time.perf_counter()
    with new_run_folder(args.out, "run") as folder:
        result = bench.run(backends, settings, decay_settings, progress)
        tables = result.tables
        tables["status"] = _unrunnable_rows(selection) + tables["status"]
        progress.show("writing the report")
        record = {
            "command": "run",
            "argv": sys.argv,
            "preset": args.preset,
            "settings": _settings_record(settings),
            "decay_settings": None if args.no_decay else _settings_record(decay_settings),
            "backends": _backends_record(selection),
            "harness_overhead": result.overhead,
            "wall_time_s": time.perf_counter() - started,
            "section_wall_s": result.section_wall_s,
            "machine": machine.machine_info(),
        }
        report.write_run(folder.path, record, tables)
        progress.advance()
        progress.close()
    wall_s = time.perf_counter() - started
    summary = report.run_summary(tables)
    print(report.text_table(summary, report.RUN_SUMMARY_COLUMNS))
    for row in summary:
        if row["status"] != "ok":
            print(f"{row['backend']} {row['size']}: {row['status']}: {row['message']}")
    overhead = result.overhead
    print(
        f"\nharness overhead vs a bare timing loop (numpy BPTT at {OVERHEAD_SIZE.label}): "
        f"{overhead['fraction'] * 100:+.2f} % measured, of which the harness's fixed cost is "
        f"{overhead['fixed_s'] * 1e6:.2f} us per call ({overhead['fixed_fraction'] * 100:.4f} %)"
        f"\nwall time {wall_s:.1f} s"
    )
    print(f"results: {folder.path}")
    return _exit_code(selection, tables)


def command_decay(args: argparse.Namespace) -> int:
    """Decay curves of every selected backend, written to a run folder."""
    defaults = DecaySettings()
    settings = DecaySettings(
        size=args.size,
        activations=tuple(dict.fromkeys(args.activation or defaults.activations)),
        alphas=tuple(dict.fromkeys(args.alpha or defaults.alphas)),
        dtype=args.dtype,
        seed=args.seed,
    )
    decay_study.check_settings(settings)
    selection = select_backends(args.backend)
    backends = _runnable(selection)
    tasks = decay_study.task_count(settings, len(backends))
    progress = Progress(tasks + 1, enabled=not args.quiet)
    started = time.perf_counter()
    with new_run_folder(args.out, "decay") as folder:
        tables = decay_study.decay_study(backends, settings, progress)
        tables["status"] = _unrunnable_rows(selection) + tables["status"]
        progress.show("writing the report")
        record = {
            "command": "decay",
            "argv": sys.argv,
            "settings": _settings_record(settings),
            "backends": _backends_record(selection),
            "wall_time_s": time.perf_counter() - started,
            "machine": machine.machine_info(),
        }
        report.write_decay(folder.path, record, tables)
        progress.advance()
        progress.close()
    print(report.text_table(tables["decay_summary"], report.DECAY_SUMMARY_COLUMNS))
    print(f"results: {folder.path}")
    return _exit_code(selection, tables)


def command_train(args: argparse.Namespace) -> int:
    """The training demo scenarios with every selected backend."""
    overrides = {
        name: getattr(args, name)
        for name in ("lr", "clip", "truncate", "lag", "task", "dtype", "seed")
        if getattr(args, name) is not None
    }
    scenarios = [SCENARIOS[name] for name in dict.fromkeys(args.scenario or SCENARIOS)]
    try:
        configs = {s.name: s.config.with_(**overrides) for s in scenarios}
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    selection = select_backends(args.backend)
    backends = _runnable(selection)
    progress = Progress(len(scenarios) * len(backends) + 1, enabled=not args.quiet)
    started = time.perf_counter()
    losses: list[Row] = []
    outcomes: list[Row] = []
    status = _unrunnable_rows(selection)
    with new_run_folder(args.out, "train") as folder:
        for scenario in scenarios:
            config = configs[scenario.name]
            for name, backend in backends.items():
                progress.show(f"train {scenario.name} with {name}")
                base = {"scenario": scenario.name, "backend": name}
                try:
                    result = train(backend, config, args.steps)
                except Exception as exc:
                    status.append(status_row(name, f"train {scenario.name}", *failure(exc)))
                else:
                    losses += [
                        {**base, "step": i, "loss": float(v), "grad_norm": float(g)}
                        for i, (v, g) in enumerate(
                            zip(result.losses, result.grad_norms, strict=True)
                        )
                    ]
                    outcomes.append(
                        {
                            **base,
                            "shows": scenario.shows,
                            "outcome": result.outcome(),
                            "diverged_at": result.diverged_at,
                            "final_loss": result.final_loss,
                            "baseline": BASELINE_LOSS,
                            **vars(config),
                        }
                    )
                progress.advance()
        progress.show("writing the report")
        record = {
            "command": "train",
            "argv": sys.argv,
            "steps": args.steps,
            "configs": {name: vars(c) for name, c in configs.items()},
            "backends": _backends_record(selection),
            "wall_time_s": time.perf_counter() - started,
            "machine": machine.machine_info(),
        }
        tables = {"train_losses": losses, "train_outcomes": outcomes, "status": status}
        report.write_train(folder.path, record, tables)
        progress.advance()
        progress.close()
    print(report.text_table(outcomes, ["scenario", "backend", "outcome"]))
    print(f"results: {folder.path}")
    return _exit_code(selection, tables)
