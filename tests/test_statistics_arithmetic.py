"""The ratio arithmetic on hand-worked samples: point estimates, bootstrap intervals whose
resampled medians can take only a few values (so the interval is known exactly), degenerate
inputs, verdicts at the threshold's edges and compare's --fail-above rows.

Values are binary fractions, so the ratios below are exact and compared with ``==``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnbench.commands.compare import LoadedRun, compare_runs, slowdowns
from rnnbench.harness import statistics
from rnnbench.harness.statistics import FASTER, NO_CHANGE, SLOWER, Ratio


def test_the_method_constants_and_the_line_that_states_them():
    assert (statistics.RESAMPLES, statistics.SEED, statistics.CONFIDENCE) == (2000, 0, 0.95)
    assert statistics.METHOD == "percentile bootstrap, 2000 resamples, seed 0, 95% interval"


# -- point estimates -------------------------------------------------------------------------
def test_ratio_of_medians_of_unpaired_samples():
    # median(3, 0.5, 2) = 2 over median(0.25, 4, 0.5, 1) = 0.75; n is the smaller count
    r = statistics.ratio_of_medians([3.0, 0.5, 2.0], [0.25, 4.0, 0.5, 1.0])
    assert r.ratio == 2.0 / 0.75 and type(r.ratio) is float
    assert r.n == 3
    assert statistics.ratio_of_medians([0.25, 4.0, 0.5, 1.0], [3.0, 0.5, 2.0]).n == 3


def test_paired_ratio_is_the_median_of_per_round_ratios():
    # per round 1/2, 4/1, 3/0.5 = 0.5, 4, 6: median 4 (the ratio of medians would be 3/1)
    r = statistics.paired_ratio([1.0, 4.0, 3.0], [2.0, 1.0, 0.5])
    assert r.ratio == 4.0 and type(r.ratio) is float
    assert r.n == 3 and type(r.n) is int


# -- bootstrap intervals ---------------------------------------------------------------------
def test_the_interval_is_the_2_5th_and_97_5th_percentile():
    # linear interpolation over 0..200: the 2.5th percentile is entry 5, the 97.5th entry 195
    # (up to the rounding of 100 * (1 - 0.95) / 2)
    low, high = statistics._interval(np.arange(201.0))
    assert (low, high) == pytest.approx((5.0, 195.0), rel=1e-14)
    assert type(low) is float and type(high) is float


def test_paired_interval_of_two_rounds_spans_both_ratios():
    """Two per-round ratios 0.5 and 2: a resample's median is 0.5 (both picks the first,
    chance 1/4), 1.25 (1/2) or 2 (1/4), so about 500 of the 2000 resampled medians sit at
    each end and the 2.5th and 97.5th percentiles are the two ratios themselves."""
    r = statistics.paired_ratio([0.25, 3.0], [0.5, 1.5])
    assert (r.ratio, r.low, r.high, r.n) == (1.25, 0.5, 2.0, 2)


def test_unpaired_interval_resamples_each_run_on_its_own():
    # a's resampled median is 1, 2 or 3; b's always 0.5: the ratio runs from 2 to 6
    r = statistics.ratio_of_medians([1.0, 3.0], [0.5])
    assert (r.ratio, r.low, r.high, r.n) == (4.0, 2.0, 6.0, 1)
    # b's resampled median is 0.5, 1 or 1.5: 3 over it runs from 2 to 6
    r = statistics.ratio_of_medians([3.0], [0.5, 1.5])
    assert (r.ratio, r.low, r.high, r.n) == (3.0, 2.0, 6.0, 1)


@pytest.mark.parametrize("estimate", [statistics.paired_ratio, statistics.ratio_of_medians])
def test_intervals_are_seeded_and_contain_the_estimate(estimate):
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(0.25, 0.2, 16), rng.lognormal(0.0, 0.2, 16)
    r = estimate(a, b)
    assert r.low < r.ratio < r.high
    assert estimate(a, b) == r == estimate(a, b, seed=0)  # the default seed is SEED = 0
    # only the interval depends on the seed (a percentile of resampled medians often lands on
    # the same value under another seed: with these samples it does not)
    other = estimate(a, b, seed=1)
    assert other != r and other.ratio == r.ratio


@pytest.mark.parametrize("estimate", [statistics.paired_ratio, statistics.ratio_of_medians])
@pytest.mark.parametrize(("a", "b"), [([0.75], [0.25]), ([1.5] * 4, [0.5] * 4)])
def test_one_sample_or_identical_samples_give_an_interval_of_width_zero(estimate, a, b):
    assert estimate(a, b) == Ratio(3.0, 3.0, 3.0, len(a))


# -- samples that cannot make a ratio ----------------------------------------------------------
@pytest.mark.parametrize("estimate", [statistics.paired_ratio, statistics.ratio_of_medians])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([], "need a non-empty sequence of samples"),
        ([[1.0, 2.0]], "need a non-empty sequence of samples"),  # not one-dimensional
        ([1.0, None], "samples must be finite and > 0"),  # a round the unit sat out
        ([1.0, 0.0], "samples must be finite and > 0"),
        ([1.0, -0.5], "samples must be finite and > 0"),
        ([1.0, math.inf], "samples must be finite and > 0"),
        ([math.nan, 1.0], "samples must be finite and > 0"),
    ],
)
def test_bad_samples_are_refused_naming_the_side(estimate, bad, message):
    with pytest.raises(ValueError, match=f"^a: {message}$"):
        estimate(bad, [1.0, 2.0])
    with pytest.raises(ValueError, match=f"^b: {message}$"):
        estimate([1.0, 2.0], bad)


def test_the_smallest_positive_sample_is_accepted():
    tiny = 2.0**-1074
    assert statistics.ratio_of_medians([tiny], [tiny]).ratio == 1.0


def test_paired_lengths_must_match_and_the_message_gives_both():
    with pytest.raises(ValueError, match=r"^paired samples need equal lengths, got 3 and 2$"):
        statistics.paired_ratio([1.0, 2.0, 3.0], [1.0, 2.0])


# -- verdicts at the threshold -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("ratio", "low", "high", "expected"),
    [
        (1.5, 1.25, 2.0, SLOWER),
        (1.25, 1.125, 1.5, NO_CHANGE),  # exactly 1 + threshold: not beyond it
        (1.25 + 2**-50, 1.125, 1.5, SLOWER),
        (1.5, 1.0, 2.0, NO_CHANGE),  # the interval touches 1
        (1.5, 1.0 + 2**-52, 2.0, SLOWER),
        (0.75, 0.5, 0.875, FASTER),
        (0.8, 0.5, 0.875, NO_CHANGE),  # exactly 1 / (1 + threshold)
        (0.875, 0.5, 0.9375, NO_CHANGE),  # under 1, but by less than the threshold
        (0.75, 0.5, 1.0, NO_CHANGE),  # the interval touches 1
        (0.75, 0.5, 1.0 - 2**-53, FASTER),
        (1.0, 0.875, 1.125, NO_CHANGE),
    ],
)
def test_verdict_at_the_edges_of_a_25_percent_threshold(ratio, low, high, expected):
    assert 1 / (1 + 0.25) == 0.8
    assert statistics.verdict(Ratio(ratio, low, high, 5), 0.25) == expected


def test_with_threshold_zero_any_significant_change_counts():
    assert statistics.verdict(Ratio(1.0 + 2**-52, 1.0 + 2**-52, 1.5, 5), 0.0) == SLOWER
    assert statistics.verdict(Ratio(1.0 - 2**-53, 0.5, 1.0 - 2**-53, 5), 0.0) == FASTER
    assert statistics.verdict(Ratio(1.0, 1.0, 1.0, 5), 0.0) == NO_CHANGE


# -- compare: a row per timing, and the rows --fail-above fails on ------------------------------
def run(name: str, samples: dict, threads: int | None = None) -> LoadedRun:
    return LoadedRun(name, {"device": "cpu", "threads": threads}, samples)


def test_compare_runs_sets_every_later_run_against_the_first():
    key = ("numpy", "T=4 B=2 D=3 H=4", "float32", "tanh", "forward")
    first = run("r1", {key: [0.25, 0.5, 0.25]})
    later = run("r2", {key: [0.75, 0.75, 1.5]})
    rows, skipped = compare_runs([first, later], threshold=0.25)
    assert skipped == []
    (row,) = rows
    assert row["run"] == "r2" and row["baseline_run"] == "r1"
    assert (row["backend"], row["phase"]) == ("numpy", "forward")
    assert (row["old_ms"], row["new_ms"]) == (250.0, 750.0)
    assert (row["ratio"], row["ci_low"], row["ci_high"]) == (3.0, 1.5, 6.0)
    assert (row["samples"], row["verdict"]) == (3, SLOWER)
    rows, _ = compare_runs([later, first], threshold=0.25)
    assert (rows[0]["ratio"], rows[0]["verdict"]) == (1 / 3, FASTER)


def test_slowdowns_are_significant_and_beyond_fail_above():
    def row(name, ratio, low, high):
        return {"backend": name, "ratio": ratio, "ci_low": low, "ci_high": high, "samples": 9}

    rows = [
        row("beyond", 1.5, 1.25, 1.75),
        row("at", 1.25, 1.125, 1.375),  # exactly 25 %: not above it
        row("unsure", 1.5, 0.75, 2.25),
        row("faster", 0.5, 0.25, 0.75),
    ]
    assert [r["backend"] for r in slowdowns(rows, 0.25)] == ["beyond"]
    assert [r["backend"] for r in slowdowns(rows, 0.0)] == ["beyond", "at"]


# -- ratio rows of a run, with the backward phase made per round -------------------------------
def test_ratio_rows_leave_out_a_backward_phase_with_a_round_at_or_below_zero():
    """backward = bptt - forward per round; one round at 0 gives no backward ratio at all
    (dropping that round would bias it), while forward and bptt keep theirs."""
    from rnnbench.harness.measure import phase_samples, ratio_rows

    base = {"backend": "b", "size": "s"}
    mine = phase_samples([1.0, 1.0, 1.0, 1.0], [3.0, 1.0, 3.0, 3.0])  # backward 2, 0, 2, 2
    theirs = phase_samples([0.5] * 4, [1.5] * 4)  # backward 1, 1, 1, 1
    rows = {r["phase"]: r for r in ratio_rows(base, mine, "numpy", theirs)}
    assert set(rows) == {"forward", "bptt"}
    assert rows["forward"]["ratio"] == 2.0 and rows["bptt"]["ratio"] == 2.0
    whole = phase_samples([1.0] * 4, [3.0, 2.0, 3.0, 3.0])  # backward 2, 1, 2, 2
    rows = {r["phase"]: r for r in ratio_rows(base, whole, "numpy", theirs)}
    assert rows["backward"]["ratio"] == 2.0 and rows["backward"]["pairs"] == 4
