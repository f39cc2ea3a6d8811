"""`rnnbench run`: speed, agreement with the float64 reference and peak BPTT memory of every
backend over a size sweep, the harness's own overhead, and the decay study.

Sizes are the outer loop, so one float64 reference is alive at a time. A backend that
raises is recorded in a status row and the run goes on with the others.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from rnnbench.cells import CELL_NAMES
from rnnbench.commands import decay, options
from rnnbench.commands.session import Tables, run_session, settings_record
from rnnbench.harness.machine import available_memory_bytes
from rnnbench.harness.measure import (
    OVERHEAD_SIZE,
    measure_backend,
    measure_overhead,
    size_columns,
)
from rnnbench.harness.progress import Progress
from rnnbench.harness.timing import MIN_REPEATS, gemm_rate
from rnnbench.interface import Backend
from rnnbench.presets import DEFAULT_PRESET, PRESETS, DecaySettings, Size, check_fits
from rnnbench.problems import DTYPES, make_data
from rnnbench.reference import reference_outputs
from rnnbench.report.pages import write_run
from rnnbench.report.tables import (
    RUN_SUMMARY_COLUMNS,
    Row,
    failure,
    run_summary,
    status_row,
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
        "--repeats", type=options.positive_int, help="timed calls per size (default: the preset's)"
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
    parser.add_argument("--seed", type=options.non_negative_int, default=0, help="data seed")
    parser.add_argument("--no-decay", action="store_true", help="skip the gradient-decay section")
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
        quiet=args.quiet,
        out=args.out,
    )
    summary = run_summary(finished.tables)
    print(text_table(summary, RUN_SUMMARY_COLUMNS))
    for row in summary:
        if row["status"] != "ok":
            print(f"{row['backend']} {row['size']}: {row['status']}: {row['message']}")
    overhead = finished.record["harness_overhead"]
    print(
        f"\nharness overhead vs a bare timing loop (numpy BPTT at {OVERHEAD_SIZE.label}): "
        f"{overhead['fraction'] * 100:+.2f} % measured, of which the harness's fixed cost is "
        f"{overhead['fixed_s'] * 1e6:.2f} us per call ({overhead['fixed_fraction'] * 100:.4f} %)"
        f"\nwall time {finished.record['wall_time_s']:.1f} s"
    )
    print(f"results: {finished.folder}")
    return finished.exit_code()


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
    (speed, agreement, memory, gemm, status, and decay_curves and decay_summary unless
    ``decay_settings`` is None) and the record's entries: the harness overhead
    (``measure_overhead``) and the wall seconds of each section."""
    sections: dict[str, float] = {}
    with _timed_section(sections, "benchmark_s"):
        tables = benchmark(backends, settings, progress)
    progress.show(f"harness overhead (numpy BPTT at {OVERHEAD_SIZE.label})")
    with _timed_section(sections, "overhead_s"):
        overhead = measure_overhead()
    progress.advance()
    if decay_settings is not None:
        with _timed_section(sections, "decay_s"):
            study = decay.decay_study(backends, decay_settings, progress)
        tables.update(decay_curves=study["decay_curves"], decay_summary=study["decay_summary"])
        tables["status"] += study["status"]
    return tables, {"harness_overhead": overhead, "section_wall_s": sections}


@contextmanager
def _timed_section(sections: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall seconds of the ``with`` block under ``sections[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        sections[name] = time.perf_counter() - start


def benchmark(backends: Mapping[str, Backend], settings: RunSettings, progress: Progress) -> Tables:
    """Speed, agreement and memory rows of every backend at every size, the GEMM rates, and a
    status row per backend and size."""
    tables: Tables = {
        "speed": [],
        "agreement": [],
        "memory": [],
        "gemm": [],
        "status": [],
    }
    for size in settings.sizes:
        progress.show(f"GEMM rate at {size.label}")
        rate = gemm_rate(size, settings.dtype)
        tables["gemm"].append({**size_columns(size, settings.dtype), **vars(rate)})
        progress.advance()
        data = make_data(
            size.problem(activation=settings.activation, dtype=settings.dtype, seed=settings.seed)
        )
        with np.errstate(all="ignore"):
            reference = reference_outputs(data)
        for name, backend in backends.items():
            progress.show(f"{name} {size.label}")
            status, message = "ok", ""
            try:
                rows = measure_backend(
                    name,
                    backend,
                    data,
                    reference,
                    rate,
                    repeats=settings.repeats,
                    warmup=settings.warmup,
                    budget_s=settings.budget_s,
                )
            except Exception as exc:
                status, message = failure(exc)
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
            tables["status"].append(status_row(name, size.label, status, message))
            progress.advance()
    return tables
