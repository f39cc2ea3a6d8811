"""Ratios with bootstrap intervals, verdicts, the backward phase, the CSV writer and thread
limits."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from rnnbench.harness import statistics, threads
from rnnbench.harness.measure import phase_samples
from rnnbench.report.tables import read_csv, write_csv


def test_paired_ratio_cancels_load_that_hits_both_calls_of_a_round():
    rng = np.random.default_rng(0)
    load = rng.uniform(1.0, 3.0, size=25)  # each round's slowdown, shared by both calls
    a, b = 1.2 * load, 1.0 * load
    paired = statistics.paired_ratio(a, b)
    assert paired.ratio == pytest.approx(1.2)
    assert paired.low == pytest.approx(1.2) and paired.high == pytest.approx(1.2)
    unpaired = statistics.ratio_of_medians(a, rng.permutation(b))
    assert unpaired.high - unpaired.low > 0.1  # the same samples, pairing thrown away


def test_intervals_cover_the_ratio_and_are_seeded():
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(0.1, 0.1, 30), rng.lognormal(0.0, 0.1, 40)
    r = statistics.ratio_of_medians(a, b)
    assert r.low < r.ratio < r.high and r.n == 30
    assert statistics.ratio_of_medians(a, b) == r
    assert statistics.ratio_of_medians(a, b, seed=5) != r


@pytest.mark.parametrize(
    ("ratio", "low", "high", "expected"),
    [
        (1.30, 1.20, 1.40, statistics.SLOWER),
        (1.03, 1.01, 1.05, statistics.NO_CHANGE),  # significant, but under the threshold
        (1.30, 0.90, 1.70, statistics.NO_CHANGE),  # large, but not significant
        (0.70, 0.60, 0.80, statistics.FASTER),
        (1.00, 0.98, 1.02, statistics.NO_CHANGE),
    ],
)
def test_verdict_needs_both_significance_and_size(ratio, low, high, expected):
    assert statistics.verdict(statistics.Ratio(ratio, low, high, 9), 0.05) == expected


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [1.0, math.nan]])
def test_bad_samples_are_refused(bad):
    with pytest.raises(ValueError, match="samples"):
        statistics.ratio_of_medians(bad, [1.0])


def test_paired_samples_need_equal_lengths():
    with pytest.raises(ValueError, match="equal lengths"):
        statistics.paired_ratio([1.0, 2.0], [1.0])


def test_backward_is_bptt_minus_forward_of_the_same_round():
    phases = phase_samples([1.0, None, 2.0], [3.0, 4.0, 5.0])
    assert phases == {
        "forward": [1.0, None, 2.0],
        "backward": [2.0, None, 3.0],
        "bptt": [3.0, 4.0, 5.0],
    }


def test_csv_needs_no_pandas_and_round_trips(tmp_path):
    rows = [{"a": 1, "b": 0.1 + 0.2, "c": None}, {"a": 2, "b": math.nan, "d": "x,y"}]
    path = write_csv(tmp_path / "t.csv", rows)
    back = read_csv(path)
    assert list(back[0]) == ["a", "b", "c", "d"]
    assert float(back[0]["b"]) == 0.1 + 0.2  # full precision
    assert back[0]["c"] == "" and back[1]["b"] == "" and back[1]["d"] == "x,y"


def test_thread_limit_sets_every_pool_and_says_so(monkeypatch):
    for name in (*threads.POOL_VARIABLES, "XLA_FLAGS"):
        monkeypatch.delenv(name, raising=False)
    threads.limit_threads(1)
    state = threads.threads_in_force(1)
    assert all(os.environ[name] == "1" for name in threads.POOL_VARIABLES)
    assert threads.XLA_SINGLE_THREAD in state["XLA_FLAGS"]
    assert state["requested"] == 1 and "single-threaded" in state["xla"]
    if isinstance(state["blas_pools"], list):
        assert all(p["num_threads"] == 1 for p in state["blas_pools"])
    with pytest.raises(ValueError, match="--threads"):
        threads.limit_threads(0)


def test_idle_openmp_threads_sleep_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    threads.sleep_when_idle()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert threads.threads_in_force(None)["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    threads.sleep_when_idle()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
