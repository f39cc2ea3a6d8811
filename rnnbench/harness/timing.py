"""Measuring what a backend call takes: wall time, compile and first-call time, interleaved
rounds across backends, this machine's GEMM rate at the shapes the network uses, and the
harness's own overhead (peak memory is ``harness.memory``, ratios ``harness.statistics``).

Rules every measurement here keeps: arrays are native before the clock starts (``load``
is never timed); ``warm_up`` runs first and its compile time is reported apart; the first
call after it is timed on its own; every timed region ends with ``backend.synchronize``
on the result; the garbage collector is paused while timing; backends compared with each
other are timed in interleaved rounds, in a fresh random order each round.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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


def time_first_call(call: Callable[[], Any], synchronize: Callable[[Any], None]) -> float:
    """Seconds of one call, synchronized, with the garbage collector paused: the first call
    after a warm-up, timed on its own."""
    with gc_paused():
        return timed_once(call, synchronize)()


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class Prepared:
    """A backend made ready at one size: compile seconds (as ``warm_up`` reports them), wall
    seconds of ``warm_up`` itself, and the first forward and BPTT call after it."""

    compile_s: float
    warm_up_wall_s: float
    first_forward_s: float
    first_bptt_s: float


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


def prepare(backend: Backend, inputs: Inputs, activation: str) -> Prepared:
    """``warm_up``, then the first forward and the first BPTT call, each timed on its own."""
    start = clock()
    compile_s = backend.warm_up(inputs, activation=activation)
    warm_up_wall_s = clock() - start
    forward, bptt = backend_calls(backend, inputs, activation)
    first_forward_s = time_first_call(forward, backend.synchronize)
    first_bptt_s = time_first_call(bptt, backend.synchronize)
    return Prepared(float(compile_s), warm_up_wall_s, first_forward_s, first_bptt_s)


#: the fewest timed calls a time budget may cut a phase to
MIN_REPEATS = 3


def planned_calls(
    first_s: float, *, repeats: int, warmup: int, budget_s: float | None
) -> tuple[int, int]:
    """(timed, untimed warm-up) calls of a phase whose first call took ``first_s``: with
    ``budget_s``, a slow phase gets about ``budget_s / first_s`` timed calls, never fewer
    than MIN_REPEATS, and at most one warm-up call."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if budget_s is not None and first_s * repeats > budget_s:
        n = max(MIN_REPEATS, min(repeats, int(budget_s / max(first_s, 1e-9))))
        return n, min(warmup, 1)
    return repeats, warmup


def timed_once(call: Callable[[], Any], synchronize: Callable[[Any], None]) -> Callable[[], float]:
    """A zero-argument function that calls ``call`` once, synchronized, and returns the
    seconds it took: a unit of ``interleaved_rounds``."""

    def once() -> float:
        start = clock()
        synchronize(call())
        return clock() - start

    return once


K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Rounds(Generic[K]):
    """What ``interleaved_rounds`` measured: per unit, its seconds in every round (None in a
    round it did not take part in); the order the units ran in each timed round; and the
    units that raised, with the exception (their samples stop there)."""

    samples: dict[K, list[float | None]]
    order: list[list[K]]
    failed: dict[K, Exception]

    def timed(self, key: K) -> tuple[float, ...]:
        """The samples of ``key`` in round order, without the rounds it missed."""
        return tuple(s for s in self.samples[key] if s is not None)


def interleaved_rounds(
    units: Mapping[K, Callable[[], float]],
    counts: Mapping[K, tuple[int, int]],
    *,
    seed: int = 0,
) -> Rounds[K]:
    """Time every unit in rounds, each round one call of every unit in a freshly shuffled
    order, so that load which comes and goes hits all units alike (Google Benchmark's random
    interleaving, asv's rounds).

    ``units``: key -> a function that makes one timed call and returns its seconds (see
    ``timed_once``; it may run in another process). ``counts``: key -> (timed, warm-up)
    calls, as ``planned_calls`` gives them: the untimed warm-up rounds come first, and a unit
    with fewer timed calls than others sits out the last rounds. A unit that raises is
    recorded in ``failed`` and takes no further part. The garbage collector is paused
    throughout; ``seed`` seeds the shuffles. ValueError if a unit has no count.
    """
    missing = [key for key in units if key not in counts]
    if missing:
        raise ValueError(f"interleaved_rounds: no (timed, warm-up) counts for units {missing}")
    rng = random.Random(seed)
    failed: dict[K, Exception] = {}
    samples: dict[K, list[float | None]] = {key: [] for key in units}
    order: list[list[K]] = []
    n_warmup = max((w for _, w in counts.values()), default=0)
    n_timed = max((n for n, _ in counts.values()), default=0)
    with gc_paused():
        for r in range(n_warmup + n_timed):
            timed = r >= n_warmup
            wanted = [
                key
                for key in units
                if key not in failed
                and (r - n_warmup < counts[key][0] if timed else r < counts[key][1])
            ]
            rng.shuffle(wanted)
            for key in wanted:
                try:
                    seconds = units[key]()
                except Exception as exc:
                    failed[key] = exc
                    continue
                if timed:
                    samples[key].append(seconds)
            if timed:
                order.append([key for key in wanted if key not in failed])
                for key in units:
                    if len(samples[key]) < len(order):
                        samples[key].append(None)
    return Rounds(samples, order, failed)


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
    each product back to back, into a preallocated output, for about ``budget_s`` seconds
    (the machine's rate, which other load can only lower)."""
    rng = np.random.default_rng(0)
    G = get_cell(size.cell).n_gates  # the gated cells' GEMMs are G*H wide
    h = rng.standard_normal((size.B, size.H)).astype(dtype)
    w_hh = rng.standard_normal((size.H, G * size.H)).astype(dtype)
    x = rng.standard_normal((size.T * size.B, size.D)).astype(dtype)
    w_xh = rng.standard_normal((size.D, G * size.H)).astype(dtype)
    step_out = np.empty((size.B, G * size.H), dtype)  # the products only, no allocation
    projection_out = np.empty((size.T * size.B, G * size.H), dtype)
    recurrent_s = _seconds_per_call(lambda: np.matmul(h, w_hh, out=step_out), budget_s)
    projection_s = _seconds_per_call(lambda: np.matmul(x, w_xh, out=projection_out), budget_s)
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
    """Compare the harness's timing path (``interleaved_rounds`` of a ``timed_once`` unit, as
    `rnnbench run` times every call) with a bare timing loop on the same call, in rounds of
    ``per_round`` calls each (so that drifting machine load hits both alike) until
    ``budget_s`` has passed and at least ``min_rounds`` rounds are done; then both on a call
    that does nothing."""
    harness, bare = _alternating(call, synchronize, per_round, min_rounds, budget_s)
    noop_harness, noop_bare = _alternating(_nothing, _nothing, 500, 20, 0.0)
    return Overhead(
        harness_s=statistics.median(harness),
        bare_s=statistics.median(bare),
        fixed_s=max(0.0, statistics.median(noop_harness) - statistics.median(noop_bare)),
    )


def _nothing(*args: Any) -> None:
    return None


def _alternating(
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
        timed = interleaved_rounds({0: timed_once(call, synchronize)}, {0: (per_round, 0)})
        harness.extend(timed.timed(0))
        for _ in range(per_round):
            start = clock()
            call()
            bare.append(clock() - start)
        rounds += 1
    return harness, bare
