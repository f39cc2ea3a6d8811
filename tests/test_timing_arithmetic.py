"""The timing arithmetic, on a fake clock whose durations are not 1 s (where ``*`` and ``/``
would agree): samples, statistics, warm-up and first calls, the repeat budget, interleaved
rounds, GEMM seconds per call, overhead.

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


# -- time_first_call, TimingStats ----------------------------------------------------------------
def test_the_first_call_is_call_plus_synchronize(clock):
    call = taking(clock, [0.25, 8.0])

    def synchronize(result):
        clock.now += 0.125

    assert timing.time_first_call(call, synchronize) == 0.375


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
        timing.time_first_call(lambda: None, lambda r: None)
        assert not gc.isenabled()
    finally:
        gc.enable()


# -- prepare: warm-up, compile and first calls apart ------------------------------------------
class FakeBackend:
    """unroll takes ``forward_s``, bptt ``bptt_s``, warm_up ``warm_up_s`` and synchronize
    ``sync_s`` of ``clock``; ``log`` is what the harness called, in order."""

    def __init__(self, clock: Clock, forward_s: float, bptt_s: float, warm_up_s: float, sync_s):
        self.clock = clock
        self.seconds = {"unroll": forward_s, "bptt": bptt_s}
        self.warm_up_s = warm_up_s
        self.sync_s = sync_s
        self.log: list = []

    def warm_up(self, inputs, *, activation):
        self.log.append(("warm_up", inputs, activation))
        self.clock.now += self.warm_up_s
        return 3  # an int: prepare reports it as a float

    def _run(self, name: str, args: tuple, activation: str) -> str:
        self.log.append((name, args, activation))
        self.clock.now += self.seconds[name]
        return name

    def unroll(self, params, xs, h0, *, activation):
        return self._run("unroll", (params, xs, h0), activation)

    def bptt(self, params, xs, h0, dhs, *, activation):
        return self._run("bptt", (params, xs, h0, dhs), activation)

    def synchronize(self, result):
        self.log.append(("sync", result))
        self.clock.now += self.sync_s


INPUTS = Inputs(Params("W_xh", "W_hh", "b"), "xs", "h0", "dhs")


def test_prepare_reports_warm_up_compile_and_first_calls_apart(clock):
    backend = FakeBackend(clock, forward_s=0.25, bptt_s=0.5, warm_up_s=0.75, sync_s=0.0625)
    prepared = timing.prepare(backend, INPUTS, "tanh")
    assert backend.log == [
        ("warm_up", INPUTS, "tanh"),
        ("unroll", (INPUTS.params, "xs", "h0"), "tanh"),
        ("sync", "unroll"),
        ("bptt", (INPUTS.params, "xs", "h0", "dhs"), "tanh"),
        ("sync", "bptt"),
    ]
    assert prepared.compile_s == 3.0 and type(prepared.compile_s) is float
    assert prepared.warm_up_wall_s == 0.75
    # each first call is timed with its synchronize, and only that
    assert (prepared.first_forward_s, prepared.first_bptt_s) == (0.3125, 0.5625)
    assert clock.now == 8.0 + 0.75 + 0.3125 + 0.5625


def test_backend_calls_are_zero_argument_forward_and_bptt(clock):
    backend = FakeBackend(clock, forward_s=0.25, bptt_s=0.5, warm_up_s=0.0, sync_s=0.0)
    forward, bptt = timing.backend_calls(backend, INPUTS, "relu")
    assert (bptt(), forward()) == ("bptt", "unroll")
    assert backend.log == [
        ("bptt", (INPUTS.params, "xs", "h0", "dhs"), "relu"),
        ("unroll", (INPUTS.params, "xs", "h0"), "relu"),
    ]


# -- planned_calls: the repeat budget -----------------------------------------------------------
def test_min_repeats():
    assert timing.MIN_REPEATS == 3


@pytest.mark.parametrize(
    ("first_s", "budget", "expected"),
    [
        (0.5, None, (10, 4)),  # no budget
        (0.5, 5.0, (10, 4)),  # 0.5 * 10 = 5 s is exactly the budget: not cut
        (1.0, 5.0, (5, 1)),  # 5 / 1.0 = 5 calls, and one warm-up instead of four
        (0.5, 3.0, (6, 1)),  # 3 / 0.5 = 6
        (0.75, 3.0, (4, 1)),  # int(3 / 0.75) = 4
        (0.625, 3.0, (4, 1)),  # int(4.8) = 4
        (1.0, 2.0, (3, 1)),  # 2 calls, raised to MIN_REPEATS
        (0.5, 0.0, (3, 1)),  # budget 0: MIN_REPEATS
        (0.0, 0.0, (10, 4)),  # a call of 0 s fits any budget, even 0
        (2.0**-3, 1.0, (8, 1)),  # 1 / 0.125 = 8
    ],
)
def test_the_budget_cuts_a_phase_by_its_own_first_call(first_s, budget, expected):
    assert timing.planned_calls(first_s, repeats=10, warmup=4, budget_s=budget) == expected


def test_a_cut_phase_never_gets_more_warm_ups_than_asked():
    assert timing.planned_calls(1.0, repeats=10, warmup=0, budget_s=1.0) == (3, 0)
    assert timing.planned_calls(1.0, repeats=10, warmup=1, budget_s=4.0) == (4, 1)


def test_one_repeat_is_allowed():
    assert timing.planned_calls(0.5, repeats=1, warmup=0, budget_s=None) == (1, 0)
    # cut to MIN_REPEATS, more than asked: the floor wins
    assert timing.planned_calls(0.5, repeats=1, warmup=2, budget_s=0.25) == (3, 1)
    with pytest.raises(ValueError, match="repeats must be >= 1, got 0"):
        timing.planned_calls(0.5, repeats=0, warmup=0, budget_s=None)


def test_a_sub_nanosecond_first_call_counts_as_one_nanosecond():
    tick = 2.0**-40  # about 0.9 ps
    # 5 ticks / 1 ns is 0 calls, so MIN_REPEATS; 5 ticks / 1 tick would have been 5
    assert timing.planned_calls(tick, repeats=10, warmup=0, budget_s=5 * tick) == (3, 0)
    # 2**-27 s (7.45 ns) / 1 ns = 7 calls; / 1 tick it would have been 8192
    assert timing.planned_calls(tick, repeats=10**4, warmup=0, budget_s=2.0**-27) == (7, 0)


# -- timed_once and interleaved_rounds ------------------------------------------------------------
def test_timed_once_is_one_synchronized_call(clock):
    log: list[float] = []
    synced = []

    def synchronize(result):
        synced.append(result)
        clock.now += 0.0625

    once = timing.timed_once(taking(clock, [0.25, 0.5], log), synchronize)
    assert log == []  # nothing runs until the unit is called
    assert once() == 0.3125
    assert once() == 0.5625
    assert log == synced == [0.25, 0.5]


def unit(clock: Clock, key: str, durations: list[float], calls: list[str]):
    """A timed_once unit whose calls take ``durations`` in turn and log ``key``."""
    step = iter(durations)

    def call():
        calls.append(key)
        clock.now += next(step)

    return timing.timed_once(call, lambda result: None)


def test_every_unit_runs_its_planned_calls_with_samples_aligned_by_round(clock):
    calls: list[str] = []
    units = {
        "a": unit(clock, "a", [2.0**-k for k in range(1, 8)], calls),
        "b": unit(clock, "b", [0.75, 1.5, 3.0], calls),
        "c": unit(clock, "c", [0.5, 0.375, 0.625, 0.875, 1.25], calls),
    }
    counts = {"a": (5, 2), "b": (3, 0), "c": (4, 1)}
    rounds = timing.interleaved_rounds(units, counts, seed=7)
    # 2 warm-up rounds (a twice, c once, b never), then 5 timed rounds
    assert calls.count("a") == 7 and calls.count("b") == 3 and calls.count("c") == 5
    assert sorted(calls[:3]) == ["a", "a", "c"]
    assert rounds.samples == {
        "a": [0.125, 0.0625, 0.03125, 0.015625, 0.0078125],  # after its 2 warm-up calls
        "b": [0.75, 1.5, 3.0, None, None],  # sits out the last 2 rounds
        "c": [0.375, 0.625, 0.875, 1.25, None],  # after its 1 warm-up call
    }
    assert rounds.timed("b") == (0.75, 1.5, 3.0)
    assert [sorted(o) for o in rounds.order] == [["a", "b", "c"]] * 3 + [["a", "c"], ["a"]]
    assert calls[3:] == [key for order in rounds.order for key in order]  # the order run
    assert rounds.failed == {}


def shuffles(seed: int | None = None, rounds: int = 12) -> timing.Rounds:
    units = {key: (lambda: 0.25) for key in "abcd"}
    counts = {key: (rounds, 0) for key in units}
    if seed is None:
        return timing.interleaved_rounds(units, counts)
    return timing.interleaved_rounds(units, counts, seed=seed)


def test_orders_differ_per_round_and_are_seeded():
    first = shuffles(3)
    assert all(sorted(order) == list("abcd") for order in first.order)
    assert len({tuple(order) for order in first.order}) > 1  # 12 equal rounds: 1 in 24**11
    assert shuffles(3).order == first.order
    assert shuffles(4).order != first.order
    assert shuffles().order == shuffles(0).order  # the default seed is 0
    assert shuffles(0).order != first.order


def test_warm_up_rounds_are_shuffled_too():
    calls: list[str] = []

    def log(key):
        return lambda: calls.append(key) or 0.25

    units = {key: log(key) for key in "abcd"}
    timing.interleaved_rounds(units, {key: (1, 12) for key in units}, seed=3)
    warm_up = [tuple(calls[i : i + 4]) for i in range(0, 48, 4)]
    assert all(sorted(order) == list("abcd") for order in warm_up)
    assert len(set(warm_up)) > 1


def test_a_unit_that_raises_is_recorded_and_not_called_again():
    calls: list[str] = []
    error = RuntimeError("broken on its 3rd call")

    def breaks_on_third():
        calls.append("x")
        if calls.count("x") == 3:
            raise error
        return 0.5

    def fine(key):
        return lambda: calls.append(key) or 0.25

    units = {"x": breaks_on_third, "y": fine("y"), "z": fine("z")}
    counts = {"x": (5, 1), "y": (5, 1), "z": (5, 1)}
    rounds = timing.interleaved_rounds(units, counts, seed=1)
    assert calls[6:9] == ["x", "z", "y"]  # with seed 1, x raises first in its round ...
    assert rounds.failed == {"x": error}
    assert calls.count("x") == 3  # 1 warm-up, 1 timed, then the one that raised
    # ... and the round goes on without it
    assert calls.count("y") == calls.count("z") == 6  # the others run every round
    assert rounds.samples["x"] == [0.5, None, None, None, None]
    assert rounds.samples["y"] == rounds.samples["z"] == [0.25] * 5
    assert [sorted(o) for o in rounds.order] == [["x", "y", "z"]] + [["y", "z"]] * 4


def test_a_unit_that_raises_in_warm_up_has_no_samples():
    def boom():
        raise ValueError("at once")

    rounds = timing.interleaved_rounds({"x": boom, "y": lambda: 0.25}, {"x": (2, 1), "y": (2, 1)})
    assert isinstance(rounds.failed["x"], ValueError)
    assert rounds.samples == {"x": [None, None], "y": [0.25, 0.25]}
    assert rounds.order == [["y"], ["y"]]
    assert rounds.timed("x") == ()


def test_no_units_no_rounds():
    rounds = timing.interleaved_rounds({}, {})
    assert (rounds.samples, rounds.order, rounds.failed) == ({}, [], {})


def test_a_unit_without_counts_is_refused():
    units = {"a": lambda: 0.25, "b": lambda: 0.25, "c": lambda: 0.25}
    with pytest.raises(ValueError, match=r"^interleaved_rounds: no .* for units \['a', 'c'\]$"):
        timing.interleaved_rounds(units, {"b": (1, 0)})


def test_the_collector_is_paused_through_the_rounds():
    seen = []
    timing.interleaved_rounds({"a": lambda: seen.append(gc.isenabled()) or 0.25}, {"a": (2, 1)})
    assert seen == [False, False, False]
    assert gc.isenabled()


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

    monkeypatch.setattr(timing, "_alternating", interleaved)
    overhead = timing.harness_overhead(len, len, budget_s=0.5, per_round=7, min_rounds=2)
    assert runs == [(7, 2, 0.5), (500, 20, 0.0)]  # then 20 rounds of 500 calls of nothing
    timing.harness_overhead(len, len)
    assert runs[2] == (3, 3, 1.5)  # the defaults
    assert (overhead.harness_s, overhead.bare_s, overhead.fixed_s) == (2.0, 1.0, 0.25)


def test_a_negative_fixed_overhead_is_reported_as_zero(monkeypatch):
    results = iter([([1.0], [1.0]), ([0.25], [0.5])])
    monkeypatch.setattr(timing, "_alternating", lambda *args: next(results))
    assert timing.harness_overhead(len, len).fixed_s == 0.0


@pytest.mark.parametrize(("budget", "rounds"), [(0.0, 3), (1.0, 3), (2.5, 4), (3.0, 5)])
def test_alternating_times_the_same_call_both_ways_until_the_budget(clock, budget, rounds):
    log: list[float] = []

    def synchronize(result):
        clock.now += 0.0625  # only the harness synchronizes

    harness, bare = timing._alternating(taking(clock, [0.125], log), synchronize, 2, 3, budget)
    # a round: 2 harness calls of 0.1875 s and 2 bare ones of 0.125 s, 0.625 s in all; the
    # untimed first call is before the budget's clock starts
    assert harness == [0.1875] * (2 * rounds)
    assert bare == [0.125] * (2 * rounds)
    assert len(log) == 1 + 4 * rounds


def test_alternating_rounds_are_harness_calls_then_bare_calls(clock):
    synced = []
    durations = [4.0, 0.25, 0.5, 0.75, 0.125, 0.375, 0.625, 1.5, 2.0, 0.0625]
    call = taking(clock, durations)
    harness, bare = timing._alternating(call, synced.append, 3, 1, 0.0)
    assert harness == [0.25, 0.5, 0.75]
    assert bare == [0.125, 0.375, 0.625]
    assert synced == [0.25, 0.5, 0.75]  # the harness synchronizes each result, bare never
    harness, bare = timing._alternating(call, synced.append, 1, 2, 0.0)
    assert (harness, bare) == ([2.0, 0.0625], [0.0625, 0.0625])  # after the untimed 1.5
