"""The `rnnbench run` driver: speed, agreement with the float64 reference and peak BPTT
memory of every backend over a size sweep, the harness's own overhead, and the decay study.

Sizes are the outer loop, so one float64 reference is alive at a time. A backend that
raises is recorded in a status row and the run goes on with the others.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from rnnbench import decay_study, machine, timing
from rnnbench.interface import Backend
from rnnbench.presets import DecaySettings, Size, check_fits
from rnnbench.problems import ProblemData, make_data
from rnnbench.progress import Progress
from rnnbench.reference import reference_grads, reference_hs, reference_scales
from rnnbench.registry import get_backend
from rnnbench.report import Row
from rnnbench.status import failure, status_row
from rnnbench.tolerances import normwise_error, tolerance

#: the size at which the harness's overhead is measured against a bare timing loop
OVERHEAD_SIZE = Size(1000, 1, 64, 64)


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


@dataclass(frozen=True)
class RunResult:
    """What `rnnbench run` measured: ``tables`` by name (speed, agreement, memory, gemm,
    status, and decay_curves and decay_summary when the decay study ran), the harness
    overhead (``measure_overhead``) and the wall seconds of each section."""

    tables: dict[str, list[Row]]
    overhead: Row
    section_wall_s: dict[str, float]


@dataclass(frozen=True)
class ReferenceOutputs:
    """The float64 reference on one problem: ``outputs`` by quantity ("unroll": hs (T, B, H),
    then every ``Grads`` name) and the error scale of each (``tolerances.error_scales``)."""

    outputs: dict[str, np.ndarray]
    scales: dict[str, float]


def check_settings(settings: RunSettings) -> None:
    """InputError, before anything runs, if a size does not fit in this machine's memory."""
    available_bytes = machine.available_memory_bytes()
    for size in settings.sizes:
        check_fits(size, settings.dtype, available_bytes)


def task_count(settings: RunSettings, n_backends: int, decay_settings: DecaySettings | None) -> int:
    """The progress tasks of ``run``: per size the GEMM rate and each backend, the overhead,
    and the decay study's."""
    decay_tasks = (
        0 if decay_settings is None else decay_study.task_count(decay_settings, n_backends)
    )
    return len(settings.sizes) * (1 + n_backends) + 1 + decay_tasks


def run(
    backends: Mapping[str, Backend],
    settings: RunSettings,
    decay_settings: DecaySettings | None,
    progress: Progress,
) -> RunResult:
    """Everything `rnnbench run` measures for ``backends`` (runnable, by name): the
    benchmark, the harness overhead and, unless ``decay_settings`` is None, the decay study."""
    sections: dict[str, float] = {}
    with _timed_section(sections, "benchmark_s"):
        tables = benchmark(backends, settings, progress)
    progress.show(f"harness overhead (numpy BPTT at {OVERHEAD_SIZE.label})")
    with _timed_section(sections, "overhead_s"):
        overhead = measure_overhead()
    progress.advance()
    if decay_settings is not None:
        with _timed_section(sections, "decay_s"):
            study = decay_study.decay_study(backends, decay_settings, progress)
        tables.update(decay_curves=study["decay_curves"], decay_summary=study["decay_summary"])
        tables["status"] += study["status"]
    return RunResult(tables, overhead, sections)


@contextmanager
def _timed_section(sections: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall seconds of the ``with`` block under ``sections[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        sections[name] = time.perf_counter() - start


def benchmark(
    backends: Mapping[str, Backend], settings: RunSettings, progress: Progress
) -> dict[str, list[Row]]:
    """Speed, agreement and memory rows of every backend at every size, the GEMM rates, and a
    status row per backend and size."""
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
        for name, backend in backends.items():
            progress.show(f"{name} {size.label}")
            status, message = "ok", ""
            try:
                rows = measure_backend(name, backend, data, reference, rate, settings)
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


def _size_columns(size: Size, dtype: str) -> Row:
    return {"size": size.label, "T": size.T, "B": size.B, "D": size.D, "H": size.H, "dtype": dtype}


def reference_outputs(data: ProblemData) -> ReferenceOutputs:
    """The float64 reference on ``data`` upcast: its forward states, every gradient, and
    their error scales."""
    with np.errstate(all="ignore"):
        hs = reference_hs(data)
        grads = reference_grads(data)
    outputs = {"unroll": hs, **dict(grads.items())}
    return ReferenceOutputs(outputs, reference_scales(data, hs, grads))


def measure_backend(
    name: str,
    backend: Backend,
    data: ProblemData,
    reference: ReferenceOutputs,
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
    agreement_rows = []
    for quantity, expected in reference.outputs.items():
        if outputs[quantity] is None:  # hs of a backend that declares no per-step adjoints
            continue
        error = normwise_error(outputs[quantity], expected, reference.scales[quantity])
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


def measure_overhead() -> Row:
    """time_calls against a bare timing loop, numpy BPTT at OVERHEAD_SIZE (float32, tanh):
    the harness's and the bare loop's seconds per call, the fraction between them, and the
    harness's fixed cost per call."""
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
