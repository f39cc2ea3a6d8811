"""The sweep of `rnnbench run`: at each size, every backend loaded, warmed up and called once,
then timed in interleaved rounds with the others (a fresh random order per round), then its
outputs checked against the float64 reference and its memory measured; every call under
the per-call time limit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from rnnbench.commands.session import Tables
from rnnbench.harness.guard import BackendRunner
from rnnbench.harness.measure import (
    BackendOutputs,
    check_backend,
    phase_samples,
    ratio_rows,
    sample_rows,
    size_columns,
    speed_rows,
)
from rnnbench.harness.progress import Progress
from rnnbench.harness.timing import (
    gemm_rate,
    interleaved_rounds,
    planned_calls,
)
from rnnbench.harness.workers import PHASES, Runner, open_runners
from rnnbench.interface import Backend
from rnnbench.presets import Size
from rnnbench.problems import make_data
from rnnbench.reference import reference_outputs
from rnnbench.report.tables import (
    Row,
    failure,
    status_row,
)


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
    baseline: str = "numpy"
    isolate: bool = False
    device: str = "cpu"
    threads: int | None = None
    call_timeout_s: float | None = None


def benchmark(
    backends: Mapping[str, Backend],
    settings: RunSettings,
    progress: Progress,
    guard: BackendRunner,
) -> tuple[Tables, Row]:
    """Speed (forward, backward, forward + BPTT), ratios against the baseline, agreement and
    memory rows of every backend at every size, every timed sample, the GEMM rates and a
    status row per backend and size; and the thread settings in force where each backend
    ran. At each size every backend is first loaded, warmed up and called once, then timed
    in interleaved rounds (``timing.interleaved_rounds``), then checked and its memory
    measured; every call goes through ``guard`` (its time limit)."""
    tables: Tables = {name: [] for name in TABLES}
    with open_runners(
        backends,
        isolate=settings.isolate,
        device=settings.device,
        requested_threads=settings.threads,
    ) as (runners, not_started):
        for name, exc in not_started.items():
            for size in settings.sizes:
                tables["status"].append(status_row(name, size.label, *failure(exc)))
        for index, size in enumerate(settings.sizes):
            measure_size(runners, settings, size, index, tables, progress, guard)
        threads = {name: runner.threads() for name, runner in runners.items()}
    return tables, threads


#: the tables of `rnnbench run`'s benchmark, in the order they are written
TABLES = ("speed", "ratios", "samples", "agreement", "memory", "gemm", "status")


def measure_size(
    runners: Mapping[str, Runner],
    settings: RunSettings,
    size: Size,
    index: int,
    tables: Tables,
    progress: Progress,
    guard: BackendRunner,
) -> None:
    """Everything `rnnbench run` measures at one size, appended to ``tables``."""
    progress.show(f"GEMM rate at {size.label}")
    rate = gemm_rate(size, settings.dtype)
    tables["gemm"].append({**size_columns(size, settings.dtype), **vars(rate)})
    progress.advance()
    problem = size.problem(activation=settings.activation, dtype=settings.dtype, seed=settings.seed)
    with np.errstate(all="ignore"):
        reference = reference_outputs(make_data(problem))
    failures: dict[str, Exception] = {}
    prepared = {}
    for name, runner in runners.items():
        progress.show(f"{name} {size.label}: warm-up and first calls")
        try:
            prepared[name] = guard.run(name, runner, lambda r: r.load(problem))
        except Exception as exc:
            failures[name] = exc
    units = {
        (name, phase): functools.partial(guard.run, name, runners[name], _timed_call(phase))
        for name in prepared
        for phase in PHASES
    }
    counts = {
        (name, phase): planned_calls(
            first, repeats=settings.repeats, warmup=settings.warmup, budget_s=settings.budget_s
        )
        for name, ready in prepared.items()
        for phase, first in zip(PHASES, (ready.first_forward_s, ready.first_bptt_s), strict=True)
    }
    progress.show(f"{size.label}: {len(prepared)} backends in interleaved rounds")
    rounds = interleaved_rounds(units, counts, seed=settings.seed + index)
    for (name, _), exc in rounds.failed.items():
        failures.setdefault(name, exc)
    base_of = {
        name: {"backend": name, **size_columns(size, settings.dtype), "device": settings.device}
        for name in runners
    }
    samples = {
        name: phase_samples(rounds.samples[(name, "forward")], rounds.samples[(name, "bptt")])
        for name in prepared
        if name not in failures
    }
    tables["samples"] += sample_rows(rounds, base_of, settings.activation)
    for name in runners:
        progress.show(f"{name} {size.label}: agreement and memory")
        status, message = "ok", ""
        if name in failures:
            status, message = failure(failures[name])
        else:
            status, message = check_backend(
                functools.partial(guard.run, name, runners[name], _outputs),
                base_of[name],
                size,
                settings.dtype,
                reference,
                tables,
            )
        if status == "ok" or status == "disagrees":
            base = {**base_of[name], "activation": settings.activation}
            tables["speed"] += speed_rows(base, size, prepared[name], samples[name], rate)
            if settings.baseline in samples:
                tables["ratios"] += ratio_rows(
                    base, samples[name], settings.baseline, samples[settings.baseline]
                )
        tables["status"].append(status_row(name, size.label, status, message))
        progress.advance()


#: what each call of a ``Runner`` is, in the message of a call past --call-timeout
RUNNER_CALLS = {
    "load": "warm-up or first unroll/bptt call",
    "time": "timed unroll/bptt call",
    "outputs": "checked unroll/bptt call",
}


def _timed_call(phase: str) -> Callable[[Runner], float]:
    """The task of one timed call of ``phase`` on a runner (for ``BackendRunner.run``)."""
    return lambda runner: runner.time(phase)


def _outputs(runner: Runner) -> BackendOutputs:
    """The task of checking a runner's outputs (for ``BackendRunner.run``)."""
    return runner.outputs()
