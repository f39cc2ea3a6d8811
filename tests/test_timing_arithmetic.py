"""The timing arithmetic, on a fake clock whose durations are not 1 s (where ``*`` and ``/``
would agree): samples, statistics, the repeat budget, GEMM seconds per call, overhead.

Durations are binary fractions (0.25, 2**-12, ...) so every sum and difference below is
exact and the tests can compare with ``==``.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterable

import numpy as np
import pytest

from rnnbench.harness import timing
from rnnbench.interface import Inputs, Params
from rnnbench.presets import Size


class Clock:
    """A fake clock that moves only when a fake call advances it."""

    def __init__(self) -> None:
        self.now = 8.0  # not 0: ``clock() - start`` and ``clock() + start`` must differ

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(timing, "clock", fake)
    return fake


def taking(clock: Clock, durations: Iterable[float], log: list[float] | None = None):
    """A call that takes the next of ``durations`` (the last one repeats) on ``clock``."""
    durations = list(durations)
    steps = itertools.chain(durations, itertools.repeat(durations[-1]))

    def call() -> float:
        seconds = next(steps)
        clock.now += seconds
        if log is not None:
            log.append(seconds)
        return seconds

    return call


# -- time_calls, time_first_call, TimingStats ---------------------------------------------------
def test_samples_are_call_plus_synchronize_and_warm_ups_are_not_timed(clock):
    call = taking(clock, [8.0, 8.0, 0.25, 0.5, 2.0])

    def synchronize(result):
        clock.now += 0.125

    stats = timing.time_calls(call, synchronize, repeats=3, warmup=2)
    assert stats.samples == (0.375, 0.625, 2.125)


def test_the_first_call_is_timed_on_its_own(clock):
    assert timing.time_first_call(taking(clock, [0.25, 4.0]), lambda r: None) == 0.25


def test_statistics_of_uneven_samples():
    stats = timing.TimingStats((0.5, 0.25, 2.0, 1.0))
    assert stats.median == 0.75
    assert stats.q25 == 0.4375  # linear interpolation: 0.25 + 0.75 * (0.5 - 0.25)
    assert stats.q75 == 1.25  # 1.0 + 0.25 * (2.0 - 1.0)
    assert stats.spread == (1.25 - 0.4375) / 0.75
    assert type(stats.q25) is float and type(stats.q75) is float


def test_the_spread_of_a_zero_median_is_zero():
    assert timing.TimingStats((0.0, 0.0, 0.5)).spread == 0.0


def test_a_paused_collector_stays_paused():
    gc.disable()
    try:
        timing.time_calls(lambda: None, lambda r: None, repeats=1)
        assert not gc.isenabled()
    finally:
        gc.enable()


# -- measure_speed and its repeat budget ---------------------------------------------------------
class FakeBackend:
    """unroll takes ``forward_s``, bptt ``bptt_s`` and warm_up ``warm_up_s`` of ``clock``."""

    def __init__(self, clock: Clock, forward_s: float, bptt_s: float, warm_up_s: float = 0.0):
        self.clock = clock
        self.seconds = {"unroll": forward_s, "bptt": bptt_s}
        self.warm_up_s = warm_up_s
        self.calls = {"unroll": 0, "bptt": 0, "sync": 0}
        self.warmed_up_with: list[tuple] = []

    def warm_up(self, inputs, *, activation):
        self.warmed_up_with.append((inputs, activation))
        self.clock.now += self.warm_up_s
        return 3  # an int: measure_speed reports it as a float

    def _run(self, name: str) -> str:
        self.calls[name] += 1
        self.clock.now += self.seconds[name]
        return name

    def unroll(self, params, xs, h0, *, activation):
        return self._run("unroll")

    def bptt(self, params, xs, h0, dhs, *, activation):
        return self._run("bptt")

    def synchronize(self, result):
        self.calls["sync"] += 1


INPUTS = Inputs(Params(None, None, None), None, None, None)


def measure(backend, **kwargs) -> timing.SpeedMeasurement:
    return timing.measure_speed(backend, INPUTS, activation="tanh", **kwargs)


def test_warm_up_and_first_calls_are_reported_apart(clock):
    backend = FakeBackend(clock, forward_s=0.25, bptt_s=0.5, warm_up_s=0.75)
    speed = measure(backend, repeats=2, warmup=0)
    assert backend.warmed_up_with == [(INPUTS, "tanh")]
    assert speed.compile_s == 3.0 and type(speed.compile_s) is float
    assert speed.warm_up_wall_s == 0.75
    assert (speed.first_forward_s, speed.first_bptt_s) == (0.25, 0.5)
    assert speed.forward.samples == (0.25, 0.25)
    assert speed.bptt.samples == (0.5, 0.5)


@pytest.mark.parametrize(
    ("budget", "forward_n", "bptt_n"),
    [
        (None, 10, 10),
        (5.0, 10, 5),  # forward: 0.5 * 10 = 5 is within the budget; bptt: 5 / 1.0 = 5 calls
        (3.0, 6, 3),  # forward: 3 / 0.5 = 6 calls; bptt: 3 / 1.0 = 3
        (2.0, 4, 3),  # bptt: 2 / 1.0 = 2 calls, raised to MIN_REPEATS = 3
        (0.0, 3, 3),  # no budget at all: MIN_REPEATS each
    ],
)
def test_the_budget_cuts_each_phase_by_its_own_first_call(clock, budget, forward_n, bptt_n):
    backend = FakeBackend(clock, forward_s=0.5, bptt_s=1.0)
    speed = measure(backend, repeats=10, warmup=4, budget_s=budget)
    assert len(speed.forward.samples) == forward_n
    assert len(speed.bptt.samples) == bptt_n
    # a phase that was cut gets one warm-up call instead of four
    forward_warmups = 4 if forward_n == 10 else 1
    bptt_warmups = 4 if bptt_n == 10 else 1
    assert backend.calls["unroll"] == 1 + forward_warmups + forward_n
    assert backend.calls["bptt"] == 1 + bptt_warmups + bptt_n
    assert backend.calls["sync"] == backend.calls["unroll"] + backend.calls["bptt"]


def test_a_cut_phase_never_gets_more_warm_ups_than_asked(clock):
    backend = FakeBackend(clock, forward_s=0.5, bptt_s=1.0)
    measure(backend, repeats=10, warmup=0, budget_s=1.0)
    assert backend.calls["unroll"] == 1 + 0 + 3


def test_a_sub_nanosecond_first_call_counts_as_one_nanosecond(clock):
    tick = 2.0**-40  # about 0.9 ps
    backend = FakeBackend(clock, forward_s=tick, bptt_s=tick)
    speed = measure(backend, repeats=10, warmup=0, budget_s=5 * tick)
    # 5 ticks / 1 ns is 0 calls, so MIN_REPEATS; 5 ticks / 1 tick would have been 5
    assert len(speed.forward.samples) == len(speed.bptt.samples) == timing.MIN_REPEATS == 3


# -- GEMM rate ----------------------------------------------------------------------------------
def test_gemm_rate_times_the_recurrent_and_the_projection_product(monkeypatch):
    size = Size(T=5, B=2, D=3, H=4)
    seen = []

    def seconds_per_call(call, budget_s):
        product = call()
        seen.append((product.shape, product.dtype, budget_s))
        return {(2, 4): 0.5, (10, 4): 0.25}[product.shape]

    monkeypatch.setattr(timing, "_seconds_per_call", seconds_per_call)
    rate = timing.gemm_rate(size, "float32", budget_s=0.125)
    assert seen == [((2, 4), np.float32, 0.125), ((10, 4), np.float32, 0.125)]
    assert (rate.recurrent_s, rate.projection_s) == (0.5, 0.25)
    # forward flops 2*5*2*(3*4 + 4*4) = 560 over 5 * 0.5 + 0.25 = 2.75 s
    assert rate.gflops == 560 / 2.75 / 1e9
    timing.gemm_rate(size, "float64")
    assert seen[-1] == ((10, 4), np.float64, 0.25)  # the default budget


def test_seconds_per_call_is_the_best_chunk_per_call(clock):
    """Calls of 2**-10, then 2**-11, then 2**-13 s: the first call sets a chunk of
    int(1 ms / 2**-10 s) = 1 call, which sees 2**-11, so the next chunk is 2 calls, each
    2**-13; then chunks of int(1 ms * 2**13) = 8 calls."""
    log: list[float] = []
    best = timing._seconds_per_call(taking(clock, [2**-10, 2**-11, 2**-13], log), 0.0)
    assert best == 2**-13
    assert len(log) == 1 + 1 + 2 + 8  # the first call, then three chunks (min_chunks)


def test_seconds_per_call_runs_chunks_until_the_budget_is_spent(clock):
    log: list[float] = []
    best = timing._seconds_per_call(taking(clock, [2**-12], log), 0.01, min_chunks=2)
    assert best == 2**-12
    # chunks of int(1 ms / 2**-12 s) = 4 calls, 2**-10 s each: 11 fill 10 ms
    assert len(log) == 1 + 11 * 4
    # a budget of exactly 10 chunks is spent after the 10th
    log.clear()
    timing._seconds_per_call(taking(clock, [2**-12], log), 10 * 2**-10, min_chunks=2)
    assert len(log) == 1 + 10 * 4


def test_seconds_per_call_honours_min_chunks(clock):
    log: list[float] = []
    timing._seconds_per_call(taking(clock, [2**-12], log), 0.0, min_chunks=5)
    assert len(log) == 1 + 5 * 4


def test_a_call_slower_than_a_chunk_is_timed_one_call_per_chunk(clock):
    log: list[float] = []
    assert timing._seconds_per_call(taking(clock, [0.5], log), 0.0) == 0.5
    assert len(log) == 1 + 3


# -- the harness's own overhead ------------------------------------------------------------------
def test_overhead_ratios():
    overhead = timing.Overhead(harness_s=0.375, bare_s=0.25, fixed_s=0.0625)
    assert overhead.fraction == 0.5
    assert overhead.fixed_fraction == 0.25


def test_harness_overhead_is_made_of_medians(monkeypatch):
    runs = []

    def interleaved(call, synchronize, per_round, min_rounds, budget_s):
        runs.append((per_round, min_rounds, budget_s))
        if len(runs) == 1:
            return [3.0, 0.5, 2.0], [0.25, 1.0, 4.0]
        return [0.5, 0.25, 0.75], [0.125, 0.25, 0.25]

    monkeypatch.setattr(timing, "_interleaved", interleaved)
    overhead = timing.harness_overhead(len, len, budget_s=0.5, per_round=7, min_rounds=2)
    assert runs == [(7, 2, 0.5), (500, 20, 0.0)]  # then 20 rounds of 500 calls of nothing
    timing.harness_overhead(len, len)
    assert runs[2] == (3, 3, 1.5)  # the defaults
    assert (overhead.harness_s, overhead.bare_s, overhead.fixed_s) == (2.0, 1.0, 0.25)


def test_a_negative_fixed_overhead_is_reported_as_zero(monkeypatch):
    results = iter([([1.0], [1.0]), ([0.25], [0.5])])
    monkeypatch.setattr(timing, "_interleaved", lambda *args: next(results))
    assert timing.harness_overhead(len, len).fixed_s == 0.0


@pytest.mark.parametrize(("budget", "rounds"), [(0.0, 3), (1.0, 3), (2.5, 4), (3.0, 5)])
def test_interleaved_rounds_time_the_same_call_both_ways(clock, budget, rounds):
    log: list[float] = []

    def synchronize(result):
        clock.now += 0.0625  # only the harness synchronizes

    harness, bare = timing._interleaved(taking(clock, [0.125], log), synchronize, 2, 3, budget)
    # a round: 2 harness calls of 0.1875 s and 2 bare ones of 0.125 s, 0.625 s in all
    assert harness == [0.1875] * (2 * rounds)
    assert bare == [0.125] * (2 * rounds)
    assert len(log) == 1 + 4 * rounds  # one untimed call first
