"""The ``rnnbench`` command: ``run``, ``decay``, ``train`` and ``backends``.

Each command measures with the library modules (``timing``, ``decay``, ``train``), writes a
run folder atomically (``results``) through ``report``, and prints a summary. Failures of
one backend are recorded and the command goes on with the others.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, NoReturn, TextIO

import numpy as np

from rnnbench import decay, machine, report, timing
from rnnbench.errors import (
    BackendUnavailableError,
    InputError,
    RnnbenchError,
    UnknownBackendError,
    UnsupportedError,
)
from rnnbench.interface import Backend, Grads
from rnnbench.presets import DEFAULT_PRESET, PRESETS, DecaySettings, Size, check_fits
from rnnbench.problems import DTYPES, ProblemData, make_data
from rnnbench.registry import backend_names, get_backend, list_backends
from rnnbench.results import new_run_folder
from rnnbench.tolerances import error_scales, normwise_error, tolerance
from rnnbench.train import BASELINE_LOSS, SCENARIOS, train

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: the size at which the harness's overhead is measured against a bare timing loop
OVERHEAD_SIZE = Size(1000, 1, 64, 64)
GRAD_NAMES = tuple(f.name for f in fields(Grads))

Row = dict[str, Any]


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


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
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


# -- progress ----------------------------------------------------------------------------------
class Progress:
    """A plain-text progress bar on stderr: ``[#####-----]  3/12  numpy T=100 ...``.

    On a terminal it redraws one line; otherwise it writes one line per task.
    """

    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = max(1, total)
        self.done = 0
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.redraw = self.stream.isatty()
        self.width = 0

    def show(self, label: str) -> None:
        """Show the task now being worked on."""
        if not self.enabled:
            return
        filled = 20 * self.done // self.total
        line = f"[{'#' * filled}{'-' * (20 - filled)}] {self.done:>3}/{self.total}  {label}"
        if self.redraw:
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` tasks as done."""
        self.done = min(self.total, self.done + n)

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self.redraw and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


# -- backends ----------------------------------------------------------------------------------
@dataclass
class Selected:
    """A backend chosen for a command: the instance, or None with the reason it cannot run."""

    name: str
    backend: Backend | None
    reason: str = ""
    requested: bool = False


def select_backends(names: Sequence[str] | None) -> list[Selected]:
    """The backends named (or every known one), constructed; UnknownBackendError for an
    unknown name."""
    requested = names is not None
    selected = []
    for name in dict.fromkeys(names or backend_names()):
        try:
            selected.append(Selected(name, get_backend(name), requested=requested))
        except BackendUnavailableError as exc:
            selected.append(Selected(name, None, str(exc), requested))
        except UnknownBackendError:
            raise
        except Exception as exc:
            reason = f"failed to construct: {type(exc).__name__}: {exc}"
            selected.append(Selected(name, None, reason, requested))
    return selected


def _unrunnable_rows(selection: Sequence[Selected]) -> list[Row]:
    return [_status(s.name, "", "skipped", s.reason) for s in selection if s.backend is None]


def _error_text(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


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
        }
        for info in list_backends()
    ]
    if args.json:
        print(report.json_text(rows))
        return EXIT_OK
    columns = ["backend", "available", "version", "dtypes", "activations", "devices", "truncation"]
    print(report.text_table(rows, columns))
    for row in rows:
        if not row["available"]:
            print(f"{row['backend']}: {row['reason']}")
    return EXIT_OK


# -- run ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSettings:
    """What `rnnbench run` measures at every size."""

    sizes: tuple[Size, ...]
    dtype: str
    activation: str
    repeats: int
    warmup: int
    budget_s: float | None
    seed: int


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
    available_bytes = machine.available_memory_bytes()
    for size in settings.sizes:
        check_fits(size, settings.dtype, available_bytes)
    selection = select_backends(args.backend)
    runnable = [s for s in selection if s.backend is not None]
    decay_settings = DecaySettings()
    decay_tasks = 0 if args.no_decay else _decay_task_count(decay_settings, runnable)
    progress = Progress(
        len(settings.sizes) * (1 + len(runnable)) + decay_tasks + 2, enabled=not args.quiet
    )
    started = time.perf_counter()
    sections: dict[str, float] = {}
    with new_run_folder(args.out, "run") as folder:
        with _timed_section(sections, "benchmark_s"):
            tables = benchmark(runnable, settings, progress)
        tables["status"] = _unrunnable_rows(selection) + tables["status"]
        progress.show(f"harness overhead (numpy BPTT at {OVERHEAD_SIZE.label})")
        with _timed_section(sections, "overhead_s"):
            overhead = measure_overhead()
        progress.advance()
        if not args.no_decay:
            with _timed_section(sections, "decay_s"):
                curves, decay_summary, decay_status = decay_study(
                    runnable, decay_settings, progress
                )
            tables.update(decay_curves=curves, decay_summary=decay_summary)
            tables["status"] += decay_status
        progress.show("writing the report")
        record = {
            "command": "run",
            "argv": sys.argv,
            "preset": args.preset,
            "settings": _settings_record(settings),
            "decay_settings": None if args.no_decay else _settings_record(decay_settings),
            "backends": [
                {"name": s.name, "available": s.backend is not None, "reason": s.reason}
                for s in selection
            ],
            "harness_overhead": overhead,
            "wall_time_s": time.perf_counter() - started,
            "section_wall_s": sections,
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
    print(
        f"\nharness overhead vs a bare timing loop (numpy BPTT at {OVERHEAD_SIZE.label}): "
        f"{overhead['fraction'] * 100:+.2f} % measured, of which the harness's fixed cost is "
        f"{overhead['fixed_s'] * 1e6:.2f} us per call ({overhead['fixed_fraction'] * 100:.4f} %)"
        f"\nwall time {wall_s:.1f} s"
    )
    print(f"results: {folder.path}")
    return _exit_code(selection, tables)


@contextmanager
def _timed_section(sections: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall seconds of the ``with`` block under ``sections[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        sections[name] = time.perf_counter() - start


def _exit_code(selection: Sequence[Selected], tables: dict[str, list[Row]]) -> int:
    """EXIT_FAILED (with a one-line reason on stderr) if anything failed, else EXIT_OK."""
    problems = [
        f"{r['backend']} {r['task']}: {r['status']}".strip()
        for r in tables["status"]
        if r["status"] in ("failed", "disagrees")
    ]
    problems += [f"{s.name}: not available" for s in selection if s.requested and not s.backend]
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


def benchmark(
    runnable: Sequence[Selected], settings: RunSettings, progress: Progress
) -> dict[str, list[Row]]:
    """Speed, agreement and memory rows of every backend at every size, the GEMM rates, and a
    status row per backend and size. Sizes are the outer loop, so one float64 reference
    is alive at a time."""
    tables: dict[str, list[Row]] = {
        "speed": [],
        "agreement": [],
        "memory": [],
        "gemm": [],
        "status": [],
    }
    for size in settings.sizes:
        progress.show(f"GEMM rate at {size.label}")
        rate = timing.gemm_rate(size, settings.dtype)
        tables["gemm"].append({**_size_columns(size, settings.dtype), **vars(rate)})
        progress.advance()
        data = make_data(
            size.problem(activation=settings.activation, dtype=settings.dtype, seed=settings.seed)
        )
        reference = reference_outputs(data)
        for selected in runnable:
            progress.show(f"{selected.name} {size.label}")
            status, message = "ok", ""
            try:
                rows = measure_backend(
                    selected.name, selected.backend, data, reference, rate, settings
                )
            except UnsupportedError as exc:
                status, message = "skipped", _error_text(exc)
            except Exception as exc:
                status, message = "failed", _error_text(exc)
            else:
                for table, table_rows in rows.items():
                    tables[table] += table_rows
                worst = max(rows["agreement"], key=lambda r: r["error"] / r["tolerance"])
                if not worst["passed"]:
                    status = "disagrees"
                    message = (
                        f"{worst['quantity']} error {worst['error']:.3g} > tolerance "
                        f"{worst['tolerance']:.3g}"
                    )
            tables["status"].append(_status(selected.name, size.label, status, message))
            progress.advance()
    return tables


def _size_columns(size: Size, dtype: str) -> Row:
    return {"size": size.label, "T": size.T, "B": size.B, "D": size.D, "H": size.H, "dtype": dtype}


def reference_outputs(data: ProblemData) -> dict[str, np.ndarray]:
    """The float64 NumPy reference on ``data`` upcast: its forward states ("unroll") and
    every gradient (by ``Grads`` name)."""
    reference = get_backend("numpy")
    inputs = reference.load(data.astype("float64"))
    activation = data.problem.activation
    p, xs, h0 = inputs.params, inputs.xs, inputs.h0
    with np.errstate(all="ignore"):
        outputs = {"unroll": reference.unroll(p, xs, h0, activation=activation)}
        outputs.update(reference.bptt(p, xs, h0, inputs.dhs, activation=activation).items())
    return outputs


def reference_scales(data: ProblemData, reference: dict[str, np.ndarray]) -> dict[str, float]:
    """The error scale of every reference output (``tolerances.error_scales``)."""
    grads = Grads(**{name: reference[name] for name in GRAD_NAMES})
    return error_scales(data.astype("float64"), reference["unroll"], grads)


def measure_backend(
    name: str,
    backend: Backend,
    data: ProblemData,
    reference: dict[str, np.ndarray],
    rate: timing.GemmRate,
    settings: RunSettings,
) -> dict[str, list[Row]]:
    """Speed, agreement and memory rows of one backend on one problem."""
    problem = data.problem
    size = Size(problem.T, problem.B, problem.D, problem.H)
    base = {"backend": name, **_size_columns(size, problem.dtype)}
    inputs = backend.load(data)
    speed = timing.measure_speed(
        backend,
        inputs,
        activation=problem.activation,
        repeats=settings.repeats,
        warmup=settings.warmup,
        budget_s=settings.budget_s,
    )
    speed_rows = []
    for phase, stats, first, flops in (
        ("forward", speed.forward, speed.first_forward_s, timing.forward_flops(size)),
        ("bptt", speed.bptt, speed.first_bptt_s, timing.bptt_flops(size)),
    ):
        gflops = flops / stats.median / 1e9
        speed_rows.append(
            {
                **base,
                "activation": problem.activation,
                "phase": phase,
                "repeats": len(stats.samples),
                "median_s": stats.median,
                "q25_s": stats.q25,
                "q75_s": stats.q75,
                "min_s": min(stats.samples),
                "max_s": max(stats.samples),
                "spread": stats.spread,
                "first_call_s": first,
                "compile_s": speed.compile_s,
                "warm_up_wall_s": speed.warm_up_wall_s,
                "steps_per_s": size.T / stats.median,
                "gflops": gflops,
                "gemm_gflops": rate.gflops,
                "pct_of_gemm": 100 * gflops / rate.gflops,
            }
        )
    forward, bptt = timing.backend_calls(backend, inputs, problem.activation)
    with np.errstate(all="ignore"):
        memory, grads = timing.peak_memory(bptt, backend.synchronize, inputs.xs)
        outputs = {
            "unroll": backend.to_numpy(forward()),
            **dict(backend.grads_to_numpy(grads).items()),
        }
    del grads
    allowed = tolerance(problem.dtype, problem.T)
    scales = reference_scales(data, reference)
    agreement_rows = []
    for quantity, expected in reference.items():
        error = normwise_error(outputs[quantity], expected, scales[quantity])
        agreement_rows.append(
            {
                **base,
                "quantity": quantity,
                "error": error,
                "tolerance": allowed,
                "passed": error <= allowed,
            }
        )
    bound = size.activation_bytes(problem.dtype)
    memory_row = {
        **base,
        "peak_bytes": memory.peak_bytes,
        "bound_bytes": bound,
        "ratio_to_bound": None if memory.peak_bytes is None else memory.peak_bytes / bound,
        "method": memory.method,
        "note": memory.reason or timing.MEMORY_METHODS[memory.method],
    }
    return {"speed": speed_rows, "agreement": agreement_rows, "memory": [memory_row]}


def measure_overhead() -> dict[str, float]:
    """time_calls against a bare timing loop, numpy BPTT at OVERHEAD_SIZE (float32, tanh)."""
    backend = get_backend("numpy")
    inputs = backend.load(make_data(OVERHEAD_SIZE.problem(dtype="float32")))
    _, bptt = timing.backend_calls(backend, inputs, "tanh")
    overhead = timing.harness_overhead(bptt, backend.synchronize)
    return {
        "harness_s": overhead.harness_s,
        "bare_s": overhead.bare_s,
        "fraction": overhead.fraction,
        "fixed_s": overhead.fixed_s,
        "fixed_fraction": overhead.fixed_fraction,
        "size": OVERHEAD_SIZE.label,
    }


# -- decay -------------------------------------------------------------------------------------
def _decay_task_count(settings: DecaySettings, runnable: Sequence[Selected]) -> int:
    return len(settings.activations) * len(settings.alphas) * (1 + len(runnable))


def decay_study(
    runnable: Sequence[Selected], settings: DecaySettings, progress: Progress
) -> tuple[list[Row], list[Row], list[Row]]:
    """Curve rows (source, activation, alpha, k, ratio, valid), summary rows (one per curve)
    and status rows of every backend, activation and alpha, with the theory and the float64
    reference as two more sources."""
    curves: list[Row] = []
    summary: list[Row] = []
    status: list[Row] = []
    T = settings.size.T
    for activation in settings.activations:
        for alpha in settings.alphas:
            data = make_data(settings.problem(activation, alpha))
            key = {"activation": activation, "alpha": alpha}
            task = f"decay {activation} alpha={alpha:g}"
            progress.show(f"{task}: float64 reference")
            reference = decay.decay_curve(reference_outputs(data)["hs"])
            theory_rate, theory_kind = _theory(activation, alpha, data.W_hh)
            theory = theory_rate ** np.arange(T, dtype=np.float64)
            curves += _curve_rows(report.THEORY, key, theory, np.ones(T, bool))
            curves += _curve_rows(report.REFERENCE, key, reference.ratios, reference.valid)
            summary.append(
                {
                    "source": report.REFERENCE,
                    **key,
                    **_curve_columns(reference, "float64", theory_rate, theory_kind),
                }
            )
            progress.advance()
            for selected in runnable:
                progress.show(f"{task}: {selected.name}")
                try:
                    measured = backend_decay_curve(selected.backend, data)
                except UnsupportedError as exc:
                    status.append(_status(selected.name, task, "skipped", _error_text(exc)))
                except Exception as exc:
                    status.append(_status(selected.name, task, "failed", _error_text(exc)))
                else:
                    curve = measured.curve
                    curves += _curve_rows(selected.name, key, curve.ratios, curve.valid)
                    error, compared = curve_error(measured, reference)
                    allowed = tolerance(settings.dtype, T)
                    agrees = bool(error <= allowed)
                    summary.append(
                        {
                            "source": selected.name,
                            **key,
                            **_curve_columns(curve, settings.dtype, theory_rate, theory_kind),
                            "error_vs_reference": error,
                            "compared_k": compared,
                            "tolerance": allowed,
                            "agrees": agrees,
                        }
                    )
                    message = f"curve error {error:.3g} > tolerance {allowed:.3g}"
                    if not agrees:
                        status.append(_status(selected.name, task, "disagrees", message))
                progress.advance()
    return curves, summary, status


def _status(backend: str, task: str, status: str, message: str = "") -> Row:
    """A status row: what happened to ``backend`` on ``task`` (a size label or a study)."""
    return {"backend": backend, "task": task, "status": status, "message": message}


@dataclass(frozen=True)
class MeasuredCurve:
    """A backend's decay curve and the mask (T,) of the k at which it can be compared."""

    curve: decay.DecayCurve
    comparable: np.ndarray


def backend_decay_curve(backend: Backend, data: ProblemData) -> MeasuredCurve:
    """The decay curve of one backend's BPTT adjoints; overflow propagates as inf."""
    inputs = backend.load(data)
    with np.errstate(all="ignore"):
        grads = backend.bptt(
            inputs.params, inputs.xs, inputs.h0, inputs.dhs, activation=data.problem.activation
        )
        adjoints = backend.to_numpy(grads.hs)
        curve = decay.decay_curve(adjoints)
    return MeasuredCurve(curve, curve.valid & far_from_subnormal(adjoints))


def far_from_subnormal(adjoints: np.ndarray) -> np.ndarray:
    """(T,) mask over k (k = 0 is the last step): the adjoint's largest entry is at least
    tiny / eps of its dtype. Below that its small entries and partial products are
    subnormal, which backends treat differently (XLA on CPU flushes them to zero, NumPy
    underflows gradually), so relative agreement is not expected there."""
    info = np.finfo(adjoints.dtype)
    flat = np.abs(adjoints.reshape(adjoints.shape[0], -1)[::-1])
    peak = np.max(np.where(np.isfinite(flat), flat, np.inf), axis=1)
    return peak >= info.tiny / info.eps


def _theory(activation: str, alpha: float, W_hh: np.ndarray) -> tuple[float, str]:
    if activation == "identity":
        return alpha, "exact alpha^k"
    return decay.pascanu_rate(activation, W_hh), "Pascanu bound (gamma*s)^k"


def curve_error(measured: MeasuredCurve, reference: decay.DecayCurve) -> tuple[float, int]:
    """Worst relative error max |r - r_ref| / r_ref over the k comparable in the measured
    curve and valid in the reference (inf if there are none), and the number of those k."""
    mask = measured.comparable & reference.valid
    if not mask.any():
        return math.inf, 0
    ratios, expected = measured.curve.ratios[mask], reference.ratios[mask]
    return float(np.max(np.abs(ratios - expected) / expected)), int(mask.sum())


def _curve_rows(source: str, key: Row, ratios: np.ndarray, valid: np.ndarray) -> list[Row]:
    return [
        {"source": source, **key, "k": k, "ratio": float(r), "valid": bool(v)}
        for k, (r, v) in enumerate(zip(ratios, valid, strict=True))
    ]


def _curve_columns(
    curve: decay.DecayCurve, dtype: str, theory_rate: float, theory_kind: str
) -> Row:
    rate = decay.fitted_rate(curve)
    valid = np.flatnonzero(curve.valid)
    return {
        "dtype": dtype,
        "status": curve.status(),
        "overflow_k": curve.overflow_k,
        "underflow_k": curve.underflow_k,
        "last_valid_k": int(valid[-1]) if valid.size else None,
        "fitted_rate": rate,
        "verdict": decay.classify(rate),
        "theory_rate": theory_rate,
        "theory": theory_kind,
    }


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
    check_fits(settings.size, settings.dtype, machine.available_memory_bytes())
    for activation in settings.activations:
        for alpha in settings.alphas:
            settings.problem(activation, alpha)  # validates before anything runs
    selection = select_backends(args.backend)
    runnable = [s for s in selection if s.backend is not None]
    progress = Progress(_decay_task_count(settings, runnable) + 1, enabled=not args.quiet)
    started = time.perf_counter()
    with new_run_folder(args.out, "decay") as folder:
        curves, summary, status = decay_study(runnable, settings, progress)
        tables = {
            "decay_curves": curves,
            "decay_summary": summary,
            "status": _unrunnable_rows(selection) + status,
        }
        progress.show("writing the report")
        record = {
            "command": "decay",
            "argv": sys.argv,
            "settings": _settings_record(settings),
            "backends": [
                {"name": s.name, "available": s.backend is not None, "reason": s.reason}
                for s in selection
            ],
            "wall_time_s": time.perf_counter() - started,
            "machine": machine.machine_info(),
        }
        report.write_decay(folder.path, record, tables)
        progress.advance()
        progress.close()
    print(report.text_table(summary, report.DECAY_SUMMARY_COLUMNS))
    print(f"results: {folder.path}")
    return _exit_code(selection, tables)


# -- train -------------------------------------------------------------------------------------
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
    runnable = [s for s in selection if s.backend is not None]
    progress = Progress(len(scenarios) * len(runnable) + 1, enabled=not args.quiet)
    started = time.perf_counter()
    losses: list[Row] = []
    outcomes: list[Row] = []
    status = _unrunnable_rows(selection)
    with new_run_folder(args.out, "train") as folder:
        for scenario in scenarios:
            config = configs[scenario.name]
            for selected in runnable:
                progress.show(f"train {scenario.name} with {selected.name}")
                base = {"scenario": scenario.name, "backend": selected.name}
                task = f"train {scenario.name}"
                try:
                    result = train(selected.backend, config, args.steps)
                except UnsupportedError as exc:
                    status.append(_status(selected.name, task, "skipped", _error_text(exc)))
                except Exception as exc:
                    status.append(_status(selected.name, task, "failed", _error_text(exc)))
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
            "backends": [
                {"name": s.name, "available": s.backend is not None, "reason": s.reason}
                for s in selection
            ],
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
