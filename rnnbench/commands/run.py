"""`rnnbench run`: speed, agreement with the float64 reference and peak BPTT memory of every
backend over a size sweep, the harness's own overhead, and the decay study.

Sizes are the outer loop, so one float64 reference is alive at a time. At each size the
backends are timed in interleaved rounds (a fresh random order each round) and every
backend's time is set against the baseline's with a confidence interval from the per-round
pairs. With ``--isolate`` each backend runs in a worker process of its own. A backend that
raises is recorded in a status row and the run goes on with the others.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace

from rnnbench.cells import CELL_NAMES
from rnnbench.commands import decay, options
from rnnbench.commands.run_sweep import RUNNER_CALLS, RunSettings, benchmark
from rnnbench.commands.session import Tables, output_options, run_session, settings_record
from rnnbench.errors import InputError
from rnnbench.harness.guard import BackendRunner
from rnnbench.harness.machine import available_memory_bytes
from rnnbench.harness.measure import (
    OVERHEAD_SIZE,
    measure_overhead,
)
from rnnbench.harness.progress import Progress
from rnnbench.harness.statistics import METHOD
from rnnbench.harness.timing import (
    MIN_REPEATS,
)
from rnnbench.interface import Backend
from rnnbench.presets import DEFAULT_PRESET, PRESETS, DecaySettings, check_fits
from rnnbench.problems import DTYPES
from rnnbench.registry import backend_names
from rnnbench.report.pages import write_run
from rnnbench.report.tables import (
    RUN_SUMMARY_COLUMNS,
    Row,
    ratio_note,
    run_summary,
    text_table,
)

NAME = "run"
SUMMARY = (
    "Time forward and BPTT of every available backend over a size sweep, check each "
    "against the float64 reference, measure BPTT's peak memory and gradient decay, and "
    "write a run folder (CSV, JSON, Markdown, PNG) under OUT/runs."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rnnbench run`."""
    options.add_backend_option(parser)
    presets_help = "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values())
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=DEFAULT_PRESET,
        help=f"size sweep and repeat counts (default: {DEFAULT_PRESET}); {presets_help}",
    )
    parser.add_argument(
        "--size",
        type=options.size,
        action="append",
        metavar="T,B,D,H",
        help="a custom size (sequence length, batch, input, hidden), repeatable; replaces "
        "the preset's sizes",
    )
    parser.add_argument(
        "--cell",
        action="append",
        choices=CELL_NAMES,
        help="cell, repeatable: every size is measured with each (default: each size's own, "
        "elman unless the preset says otherwise, e.g. fastrnns is LSTM)",
    )
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="precision of the timed runs"
    )
    parser.add_argument(
        "--activation",
        choices=options.ACTIVATION_CHOICES,
        default="tanh",
        help="activation of the elman cell in the timed runs (gated cells take only tanh)",
    )
    parser.add_argument(
        "--repeats",
        type=options.positive_int,
        help="timed rounds per size: each round times one call of every backend and phase, "
        "in a fresh random order (default: the preset's)",
    )
    parser.add_argument(
        "--warmup",
        type=options.non_negative_int,
        help="untimed calls after warm_up and the first call (default: the preset's)",
    )
    parser.add_argument(
        "--max-time",
        type=options.positive_float,
        metavar="SECONDS",
        help="time budget per phase (forward, BPTT) of one backend at one size: a slow "
        f"backend gets fewer timed calls, never fewer than {MIN_REPEATS} "
        "(default: the preset's)",
    )
    parser.add_argument(
        "--seed",
        type=options.non_negative_int,
        default=0,
        help="data seed; also seeds each size's round order",
    )
    parser.add_argument(
        "--baseline",
        metavar="NAME",
        help="backend every other is set against: per size and phase the median of the "
        f"per-round time ratios with a confidence interval ({METHOD.replace('%', '%%')}); "
        "one of the measured backends (default: numpy, or the first --backend without it)",
    )
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="run each backend in a worker process of its own, so frameworks' thread pools "
        "never share a process",
    )
    options.add_device_option(parser)
    options.add_threads_option(parser)
    parser.add_argument("--no-decay", action="store_true", help="skip the gradient-decay section")
    options.add_call_timeout_option(parser)
    options.add_output_options(parser)


def execute(args: argparse.Namespace) -> int:
    """Speed, agreement, memory (and decay) for every selected backend over the sizes."""
    preset = PRESETS[args.preset]
    sizes = tuple(args.size or preset.sizes)
    if args.cell:
        sizes = tuple(replace(size, cell=cell) for size in sizes for cell in args.cell)
    settings = RunSettings(
        sizes=sizes,
        dtype=args.dtype,
        activation=args.activation,
        repeats=args.repeats or preset.repeats,
        warmup=preset.warmup if args.warmup is None else args.warmup,
        budget_s=preset.budget_s if args.max_time is None else args.max_time,
        seed=args.seed,
        baseline=choose_baseline(args.baseline, args.backend),
        isolate=args.isolate,
        device=args.device,
        threads=args.threads,
        call_timeout_s=args.call_timeout,
    )
    check_settings(settings)
    cells = tuple(dict.fromkeys(size.cell for size in settings.sizes))
    decay_settings = None if args.no_decay else DecaySettings(cells=cells)

    def measure(backends: Mapping[str, Backend], progress: Progress) -> tuple[Tables, Row]:
        tables, entries = run(backends, settings, decay_settings, progress)
        return tables, {
            "preset": args.preset,
            "settings": settings_record(settings),
            "decay_settings": None if decay_settings is None else settings_record(decay_settings),
            **entries,
        }

    finished = run_session(
        NAME,
        args.backend,
        count_tasks=lambda n_backends: task_count(settings, n_backends, decay_settings),
        measure=measure,
        write=write_run,
        **output_options(args),
    )
    summary = run_summary(finished.tables, settings.baseline)
    print(text_table(summary, RUN_SUMMARY_COLUMNS))
    print(ratio_note(settings.baseline))
    for row in summary:
        if row["status"] != "ok":
            print(f"{row['backend']} {row['size']}: {row['status']}: {row['message']}")
    overhead = finished.record["harness_overhead"]
    print(
        f"\nharness overhead: {overhead['fixed_s'] * 1e6:.2f} us per timed call "
        f"({overhead['fixed_fraction'] * 100:.4f} % of a numpy BPTT call at "
        f"{OVERHEAD_SIZE.label}); that call timed by the harness and by a bare loop, "
        f"interleaved, differed by {overhead['fraction'] * 100:+.2f} % (machine noise)"
        f"\nwall time {finished.record['wall_time_s']:.1f} s"
    )
    machine = finished.record["machine"]
    load = (machine.get("load_average") or [0.0])[0]
    if load > machine["usable_cores"]:
        print(
            f"note: the load average was {load:.1f} on {machine['usable_cores']} cores: other "
            "work competed for them; ratios and their intervals hold within this run, absolute "
            "times less so (docs/compare.md)"
        )
    print(f"results: {finished.folder}")
    return finished.exit_code()


def choose_baseline(requested: str | None, selected: list[str] | None) -> str:
    """The backend the others are set against: ``requested`` (--baseline), else numpy, else
    the first of ``selected`` (--backend, None: every backend) when numpy is not among them.
    InputError when ``requested`` is not a backend this run measures."""
    known = selected or backend_names()
    if requested is None:
        return "numpy" if "numpy" in known else known[0]
    if requested not in known:
        raise InputError(
            f"--baseline {requested}: not a backend this run measures ({', '.join(known)})"
        )
    return requested


def check_settings(settings: RunSettings) -> None:
    """InputError, before anything runs, if a size does not fit in this machine's memory or
    its cell cannot take the activation."""
    available_bytes = available_memory_bytes()
    for size in settings.sizes:
        check_fits(size, settings.dtype, available_bytes)
        size.problem(activation=settings.activation, dtype=settings.dtype, seed=settings.seed)


def task_count(settings: RunSettings, n_backends: int, decay_settings: DecaySettings | None) -> int:
    """The progress tasks of ``run``: per size the GEMM rate and each backend, the overhead,
    and the decay study's."""
    decay_tasks = 0 if decay_settings is None else decay.task_count(decay_settings, n_backends)
    return len(settings.sizes) * (1 + n_backends) + 1 + decay_tasks


def run(
    backends: Mapping[str, Backend],
    settings: RunSettings,
    decay_settings: DecaySettings | None,
    progress: Progress,
) -> tuple[Tables, Row]:
    """Everything `rnnbench run` measures for ``backends`` (runnable, by name): the tables
    (TABLES, and decay_curves and decay_summary unless ``decay_settings`` is None) and the
    record's entries: the harness overhead (``measure_overhead``), the wall seconds of each
    section and how the timing was done. Every backend call is limited to
    ``settings.call_timeout_s``; a backend past it is not called again."""
    sections: dict[str, float] = {}
    guard = BackendRunner(settings.call_timeout_s, RUNNER_CALLS)
    with _timed_section(sections, "benchmark_s"):
        tables, threads = benchmark(backends, settings, progress, guard)
    progress.show(f"harness overhead (numpy BPTT at {OVERHEAD_SIZE.label})")
    with _timed_section(sections, "overhead_s"):
        overhead = measure_overhead()
    progress.advance()
    if decay_settings is not None:
        with _timed_section(sections, "decay_s"):
            study = decay.decay_study(backends, decay_settings, progress, guard)
        tables.update(decay_curves=study["decay_curves"], decay_summary=study["decay_summary"])
        tables["status"] += study["status"]
    entries = {
        "harness_overhead": overhead,
        "section_wall_s": sections,
        "timing": {
            "scheme": "interleaved rounds, a fresh random order per round (seeded by --seed "
            "and the size's index), one call of every backend and phase per round",
            "ratio": "median of per-round ratios against the baseline; " + METHOD,
            "isolation": "a worker process per backend" if settings.isolate else "one process",
            "threads_by_backend": threads,
        },
    }
    return tables, entries


@contextmanager
def _timed_section(sections: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall seconds of the ``with`` block under ``sections[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        sections[name] = time.perf_counter() - start
