"""Ratios of timings with confidence intervals, and the verdict drawn from one.

Two estimates, both with a seeded percentile bootstrap (``RESAMPLES`` resamples, the 2.5th
and 97.5th percentiles for a 95 % interval):

* ``paired_ratio``: within one run, where backend and baseline were timed in the same rounds
  (``timing.interleaved_rounds``), the median of the per-round ratios a_i / b_i; rounds are
  resampled as pairs, so load that hit both calls of a round cancels.
* ``ratio_of_medians``: across runs (different times or machines, nothing paired),
  median(a) / median(b) with each run's samples resampled on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: bootstrap resamples per interval
RESAMPLES = 2000
#: seed of the bootstrap's generator: the same samples always give the same interval
SEED = 0
#: coverage of every interval
CONFIDENCE = 0.95
#: how intervals are computed, as the run record and reports state it
METHOD = f"percentile bootstrap, {RESAMPLES} resamples, seed {SEED}, {CONFIDENCE:.0%} interval"


@dataclass(frozen=True)
class Ratio:
    """A ratio (a over b; above 1 means a takes longer) with its confidence interval and
    the number of samples (or pairs) behind it."""

    ratio: float
    low: float
    high: float
    n: int


def paired_ratio(a: Sequence[float], b: Sequence[float], *, seed: int = SEED) -> Ratio:
    """Median of a_i / b_i over paired samples a (n,), b (n,), with a bootstrap interval
    over the pairs. ValueError if the lengths differ or there are no pairs."""
    x, y = _positive(a, "a"), _positive(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired samples need equal lengths, got {x.size} and {y.size}")
    ratios = x / y
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, ratios.size, size=(RESAMPLES, ratios.size))
    boot = np.median(ratios[picks], axis=1)
    low, high = _interval(boot)
    return Ratio(float(np.median(ratios)), low, high, int(ratios.size))


def ratio_of_medians(a: Sequence[float], b: Sequence[float], *, seed: int = SEED) -> Ratio:
    """median(a) / median(b) of unpaired samples a (n,), b (m,), with a bootstrap interval
    that resamples each on its own; ``n`` is the smaller sample count."""
    x, y = _positive(a, "a"), _positive(b, "b")
    rng = np.random.default_rng(seed)
    boot_a = np.median(x[rng.integers(0, x.size, size=(RESAMPLES, x.size))], axis=1)
    boot_b = np.median(y[rng.integers(0, y.size, size=(RESAMPLES, y.size))], axis=1)
    low, high = _interval(boot_a / boot_b)
    return Ratio(float(np.median(x) / np.median(y)), low, high, int(min(x.size, y.size)))


def _positive(samples: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(samples, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name}: need a non-empty sequence of samples")
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{name}: samples must be finite and > 0")
    return array


def _interval(boot: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(boot, [tail, 100 - tail])
    return float(low), float(high)


FASTER = "faster"
SLOWER = "slower"
NO_CHANGE = "no significant change"


def verdict(ratio: Ratio, threshold: float) -> str:
    """SLOWER when the whole interval lies above 1 and the ratio exceeds 1 + threshold,
    FASTER when it lies below 1 and the ratio is under 1 / (1 + threshold), else NO_CHANGE.
    ``threshold``: a fraction (0.05 = 5 %)."""
    if ratio.low > 1 and ratio.ratio > 1 + threshold:
        return SLOWER
    if ratio.high < 1 and ratio.ratio < 1 / (1 + threshold):
        return FASTER
    return NO_CHANGE
