"""Measuring what a backend call takes: wall time, compile and first-call time, this
machine's GEMM rate at the shapes the network uses, and the harness's own overhead (peak
memory is ``harness.memory``).

Rules every measurement here keeps: arrays are native before the clock starts (``load``
is never timed); ``warm_up`` runs first and its compile time is reported apart; the first
call after it is timed on its own; every timed region ends with ``backend.synchronize``
on the result; the garbage collector is paused while timing.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnbench.cells import forward_flops, get_cell
from rnnbench.interface import Backend, Inputs
from rnnbench.presets import Size

clock = time.perf_counter


# -- wall time -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TimingStats:
    """Seconds per call of ``len(samples)`` timed calls."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def q25(self) -> float:
        return float(np.percentile(self.samples, 25))

    @property
    def q75(self) -> float:
        return float(np.percentile(self.samples, 75))

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (0.05 = 5 %)."""
        return (self.q75 - self.q25) / self.median if self.median > 0 else 0.0


def time_calls(
    call: Callable[[], Any],
    synchronize: Callable[[Any], None],
    *,
    repeats: int,
    warmup: int = 0,
) -> TimingStats:
    """Time ``repeats`` calls of ``call`` (each followed by ``synchronize`` on its result)
    after ``warmup`` untimed ones."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    with _gc_paused():
        for _ in range(warmup):
            synchronize(call())
        samples = []
        for _ in range(repeats):
            start = clock()
            synchronize(call())
            samples.append(clock() - start)
    return TimingStats(tuple(samples))


def time_first_call(call: Callable[[], Any], synchronize: Callable[[Any], None]) -> float:
    """Seconds of one call, synchronized: the first call after a warm-up, timed on its own."""
    return time_calls(call, synchronize, repeats=1).median


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class SpeedMeasurement:
    """One backend at one size: compile seconds (as ``warm_up`` reports them), wall seconds of
    ``warm_up`` itself, the first forward and BPTT call after it, and the timed repeats."""

    compile_s: float
    warm_up_wall_s: float
    first_forward_s: float
    first_bptt_s: float
    forward: TimingStats
    bptt: TimingStats


def backend_calls(
    backend: Backend, inputs: Inputs, activation: str
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Zero-argument forward (``unroll``) and BPTT calls on already-native inputs."""
    p, xs, h0, dhs, state0 = inputs.params, inputs.xs, inputs.h0, inputs.dhs, inputs.state0

    def forward() -> Any:
        return backend.unroll(p, xs, h0, activation=activation, **state0)

    def bptt() -> Any:
        return backend.bptt(p, xs, h0, dhs, activation=activation, **state0)

    return forward, bptt


#: the fewest timed calls a time budget may cut a phase to
MIN_REPEATS = 3


def measure_speed(
    backend: Backend,
    inputs: Inputs,
    *,
    activation: str,
    repeats: int,
    warmup: int,
    budget_s: float | None = None,
) -> SpeedMeasurement:
    """Warm up, then time the first call and ``repeats`` calls of forward and of BPTT.

    With ``budget_s``, a phase whose first call is slow gets fewer timed calls, about
    ``budget_s / first call`` but never fewer than MIN_REPEATS, and at most one warm-up call.
    """
    start = clock()
    compile_s = backend.warm_up(inputs, activation=activation)
    warm_up_wall_s = clock() - start
    forward, bptt = backend_calls(backend, inputs, activation)
    sync = backend.synchronize
    first_forward_s = time_first_call(forward, sync)
    first_bptt_s = time_first_call(bptt, sync)

    def timed(call: Callable[[], Any], first_s: float) -> TimingStats:
        n, w = repeats, warmup
        if budget_s is not None and first_s * repeats > budget_s:
            n = max(MIN_REPEATS, min(repeats, int(budget_s / max(first_s, 1e-9))))
            w = min(warmup, 1)
        return time_calls(call, sync, repeats=n, warmup=w)

    return SpeedMeasurement(
        compile_s=float(compile_s),
        warm_up_wall_s=warm_up_wall_s,
        first_forward_s=first_forward_s,
        first_bptt_s=first_bptt_s,
        forward=timed(forward, first_forward_s),
        bptt=timed(bptt, first_bptt_s),
    )


@dataclass(frozen=True)
class GemmRate:
    """This machine's best NumPy matmul at an RNN's shapes: seconds per (B,H)@(H,H) product
    (one recurrent step) and per (T*B,D)@(D,H) product (the hoisted input projection).
    ``gflops`` is the forward FLOP count over the time those GEMMs alone take,
    ``T * recurrent_s + projection_s``: the rate a backend that did nothing but these
    GEMMs would reach."""

    recurrent_s: float
    projection_s: float
    gflops: float


def gemm_rate(size: Size, dtype: str, *, budget_s: float = 0.25) -> GemmRate:
    """Measure GemmRate for ``size`` in ``dtype``: the best per-call time seen while calling
    each product back to back for about ``budget_s`` seconds (the machine's rate, which
    other load can only lower)."""
    rng = np.random.default_rng(0)
    G = get_cell(size.cell).n_gates  # the gated cells' GEMMs are G*H wide
    h = rng.standard_normal((size.B, size.H)).astype(dtype)
    w_hh = rng.standard_normal((size.H, G * size.H)).astype(dtype)
    x = rng.standard_normal((size.T * size.B, size.D)).astype(dtype)
    w_xh = rng.standard_normal((size.D, G * size.H)).astype(dtype)
    recurrent_s = _seconds_per_call(lambda: h @ w_hh, budget_s)
    projection_s = _seconds_per_call(lambda: x @ w_xh, budget_s)
    bound_s = size.T * recurrent_s + projection_s
    return GemmRate(recurrent_s, projection_s, forward_flops(size) / bound_s / 1e9)


#: calls are timed in chunks of about this many seconds (so the clock's own cost is negligible)
CHUNK_S = 1e-3


def _seconds_per_call(call: Callable[[], Any], budget_s: float, min_chunks: int = 3) -> float:
    """Fewest seconds per call over chunks of back-to-back calls, run one after another until
    ``budget_s`` has passed and at least ``min_chunks`` chunks are done. Back-to-back calls
    keep a BLAS thread pool awake, as the GEMMs inside a recurrent loop do."""
    start = clock()
    call()
    best = clock() - start
    chunks = 0
    begin = clock()
    while chunks < min_chunks or clock() - begin < budget_s:
        size = max(1, int(CHUNK_S / max(best, 1e-9)))
        start = clock()
        for _ in range(size):
            call()
        best = min(best, (clock() - start) / size)
        chunks += 1
    return best


# -- the harness's own overhead ----------------------------------------------------------------
@dataclass(frozen=True)
class Overhead:
    """The harness against a bare loop (``t = clock(); call(); clock() - t``).

    ``harness_s`` and ``bare_s``: median seconds per call of the same call timed both ways,
    interleaved; ``fraction`` = harness/bare - 1 (at millisecond calls this is dominated by
    machine noise). ``fixed_s``: what the harness adds to every timed call, measured on a call
    that does nothing, so free of that noise; ``fixed_fraction`` relates it to ``bare_s``.
    """

    harness_s: float
    bare_s: float
    fixed_s: float

    @property
    def fraction(self) -> float:
        return self.harness_s / self.bare_s - 1.0

    @property
    def fixed_fraction(self) -> float:
        return self.fixed_s / self.bare_s


def harness_overhead(
    call: Callable[[], Any],
    synchronize: Callable[[Any], None],
    *,
    budget_s: float = 1.5,
    per_round: int = 3,
    min_rounds: int = 3,
) -> Overhead:
    """Compare time_calls with a bare timing loop on the same call, in alternating rounds of
    ``per_round`` calls each (so that drifting machine load hits both alike) until
    ``budget_s`` has passed and at least ``min_rounds`` rounds are done; then both on a call
    that does nothing."""
    harness, bare = _interleaved(call, synchronize, per_round, min_rounds, budget_s)
    noop_harness, noop_bare = _interleaved(_nothing, _nothing, 500, 20, 0.0)
    return Overhead(
        harness_s=statistics.median(harness),
        bare_s=statistics.median(bare),
        fixed_s=max(0.0, statistics.median(noop_harness) - statistics.median(noop_bare)),
    )


def _nothing(*args: Any) -> None:
    return None


def _interleaved(
    call: Callable[[], Any],
    synchronize: Callable[[Any], None],
    per_round: int,
    min_rounds: int,
    budget_s: float,
) -> tuple[list[float], list[float]]:
    harness: list[float] = []
    bare: list[float] = []
    call()
    begin = clock()
    rounds = 0
    while rounds < min_rounds or clock() - begin < budget_s:
        harness.extend(time_calls(call, synchronize, repeats=per_round).samples)
        for _ in range(per_round):
            start = clock()
            call()
            bare.append(clock() - start)
        rounds += 1
    return harness, bare
