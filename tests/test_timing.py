"""The measuring primitives: what is inside the timed region, statistics, rates, memory."""

from __future__ import annotations

import gc
import math

import numpy as np
import pytest

from rnnbench import cells
from rnnbench.harness import memory, timing
from rnnbench.presets import Size
from rnnbench.problems import make_data
from rnnbench.registry import get_backend


class FakeClock:
    """A clock that only moves when the test moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing, "clock", clock)
    return clock


def test_synchronize_is_inside_the_timed_region(fake_clock):
    events = []

    def call():
        fake_clock.now += 1.0
        events.append("call")
        return len(events)

    def synchronize(result):
        fake_clock.now += 2.0
        events.append(("sync", result))

    assert timing.time_first_call(call, synchronize) == 3.0
    assert events == ["call", ("sync", 1)]  # the result is synchronized inside the timing


def test_the_garbage_collector_is_paused_while_timing_and_restored():
    seen = []
    timing.time_first_call(lambda: seen.append(gc.isenabled()), lambda r: None)
    assert seen == [False]
    assert gc.isenabled()


def test_repeats_must_be_positive_also_when_planned():
    with pytest.raises(ValueError, match="repeats"):
        timing.planned_calls(1.0, repeats=0, warmup=0, budget_s=None)


def test_statistics_of_samples():
    stats = timing.TimingStats((4.0, 1.0, 3.0, 2.0, 5.0))
    assert stats.median == 3.0
    assert stats.q25 == 2.0
    assert stats.q75 == 4.0
    assert stats.spread == pytest.approx(2.0 / 3.0)


def test_flop_counts():
    size = Size(T=10, B=2, D=3, H=4)
    assert cells.forward_flops(size) == 2 * 10 * 2 * (3 * 4 + 4 * 4)
    assert cells.bptt_flops(size) == 3 * cells.forward_flops(size)


def test_gemm_rate_is_the_forward_flops_over_the_gemm_time():
    size = Size(T=8, B=2, D=4, H=8)
    rate = timing.gemm_rate(size, "float32", budget_s=0.01)
    assert rate.recurrent_s > 0 and rate.projection_s > 0
    bound = size.T * rate.recurrent_s + rate.projection_s
    assert rate.gflops == pytest.approx(cells.forward_flops(size) / bound / 1e9)


class RecordingBackend:
    """Wraps the NumPy backend and records the order of what the harness calls."""

    def __init__(self) -> None:
        self.inner = get_backend("numpy")
        self.log: list[str] = []

    def warm_up(self, inputs, *, activation, truncate=None):
        self.log.append("warm_up")
        return 0.25

    def unroll(self, *args, **kwargs):
        self.log.append("unroll")
        return self.inner.unroll(*args, **kwargs)

    def bptt(self, *args, **kwargs):
        self.log.append("bptt")
        return self.inner.bptt(*args, **kwargs)

    def synchronize(self, result):
        self.log.append("sync")


def test_prepare_warms_up_first_and_times_the_first_calls_apart():
    backend = RecordingBackend()
    inputs = backend.inner.load(make_data(Size(5, 2, 3, 4).problem(dtype="float32")))
    prepared = timing.prepare(backend, inputs, "tanh")
    assert backend.log == ["warm_up", "unroll", "sync", "bptt", "sync"]
    assert prepared.compile_s == 0.25
    assert prepared.first_forward_s > 0 and prepared.first_bptt_s > 0


def test_rounds_shuffle_every_unit_once_per_round_after_warm_up_rounds(fake_clock):
    calls = []

    def unit(key):
        def once():
            calls.append(key)
            fake_clock.now += 1.0
            return {"a": 1.0, "b": 2.0, "c": 3.0}[key]

        return once

    units = {k: unit(k) for k in "abc"}
    rounds = timing.interleaved_rounds(units, {k: (20, 2) for k in "abc"}, seed=1)
    assert len(calls) == 22 * 3
    assert [sorted(calls[i : i + 3]) for i in range(0, len(calls), 3)] == [["a", "b", "c"]] * 22
    assert len(rounds.order) == 20 and len({tuple(o) for o in rounds.order}) > 1
    assert rounds.timed("b") == (2.0,) * 20 and not rounds.failed
    again = timing.interleaved_rounds(units, {k: (20, 2) for k in "abc"}, seed=1)
    assert again.order == rounds.order  # seeded


def test_a_unit_with_fewer_calls_sits_out_the_last_rounds_and_a_failing_one_stops():
    def boom():
        raise RuntimeError("broken")

    units = {"fast": lambda: 1.0, "slow": lambda: 5.0, "broken": boom}
    counts = {"fast": (6, 1), "slow": (3, 0), "broken": (6, 1)}
    rounds = timing.interleaved_rounds(units, counts)
    assert rounds.samples["fast"] == [1.0] * 6
    assert rounds.samples["slow"] == [5.0] * 3 + [None] * 3
    assert rounds.samples["broken"] == [None] * 6
    assert isinstance(rounds.failed["broken"], RuntimeError)
    assert all("broken" not in order for order in rounds.order)


def test_harness_overhead_compares_medians():
    overhead = timing.Overhead(harness_s=1.05, bare_s=1.0, fixed_s=0.001)
    assert overhead.fraction == pytest.approx(0.05)
    assert overhead.fixed_fraction == pytest.approx(0.001)
    measured = timing.harness_overhead(lambda: sum(range(1000)), lambda r: None, budget_s=0.01)
    assert measured.harness_s > 0 and measured.bare_s > 0
    assert math.isfinite(measured.fraction)
    assert 0 <= measured.fixed_s < measured.bare_s


def test_tracemalloc_sees_a_numpy_allocation():
    n = 1 << 20

    def call():
        return np.ones(n)  # 8 MiB, returned (alive at the end)

    peak, result = memory.peak_memory(call, lambda r: None, np.zeros(1))
    assert result.shape == (n,)
    assert peak.method == "tracemalloc"
    assert 8 * n <= peak.peak_bytes < 8 * n + (1 << 16)


def test_numpy_bptt_needs_at_least_the_activation_storage():
    backend = get_backend("numpy")
    size = Size(T=50, B=4, D=8, H=16)
    inputs = backend.load(make_data(size.problem(dtype="float64")))
    _, bptt = timing.backend_calls(backend, inputs, "tanh")
    peak, grads = memory.peak_memory(bptt, backend.synchronize, inputs.xs)
    assert grads.hs.shape == (50, 4, 16)
    assert peak.peak_bytes >= size.activation_bytes("float64")


def test_a_non_numpy_backend_is_measured_by_resident_memory_or_reported_na():
    n = 64 << 20

    def call():
        block = bytearray(n)  # zero-filled: every page touched
        return len(block)

    peak, result = memory.peak_memory(call, lambda r: None, native=[1.0])
    assert result == n
    if peak.method == "n/a":
        assert peak.peak_bytes is None and peak.reason
    else:
        assert peak.method == "rss-hwm"
        assert peak.method in memory.MEMORY_METHODS
        assert 0.9 * n <= peak.peak_bytes <= 1.5 * n


@pytest.mark.parametrize(
    ("budget", "expected"), [(None, (7, 2)), (100.0, (7, 2)), (4.5, (4, 1)), (0.5, (3, 1))]
)
def test_a_time_budget_lowers_the_calls_of_a_slow_phase(budget, expected):
    assert timing.planned_calls(1.0, repeats=7, warmup=2, budget_s=budget) == expected
