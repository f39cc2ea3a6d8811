"""Gradient-decay curves: how ||dL/dh_t|| shrinks or grows going back from the last step.

A curve is ``ratio[k] = ||dL/dh_(T-k)|| / ||dL/dh_T||`` for k = 0 .. T-1 (1-based steps),
made from the per-step adjoints ``Grads.hs`` (T, B, H) of a problem whose cotangent is
non-zero only at the last step. Norms are taken in float64 so that the measurement itself
never overflows; a backend's own float32 overflow or underflow is reported, not raised.

Theory beside it: for the identity activation and ``W_hh = alpha * Q`` the curve is exactly
``alpha**k``; for any activation with |f'| <= gamma, Pascanu et al. (2013) bound it by
``(gamma * s)**k`` with s the largest singular value of W_hh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnnbench.activations import GAMMA

#: a fitted per-step rate within this of 1 counts as stable
STABLE_BAND = 0.02


@dataclass(frozen=True)
class DecayCurve:
    """ratios (K,), float64; ``overflow_k``/``underflow_k``: the first k at which the
    backend's adjoint left its dtype's normal range (None if it never did)."""

    ratios: np.ndarray
    overflow_k: int | None
    underflow_k: int | None

    @property
    def valid(self) -> np.ndarray:
        """Mask of the k whose ratio is a finite positive number measured before the
        adjoint left its dtype's normal range."""
        mask = np.isfinite(self.ratios) & (self.ratios > 0)
        events = [k for k in (self.overflow_k, self.underflow_k) if k is not None]
        if events:
            mask[min(events) :] = False
        return mask

    def status(self) -> str:
        """'ok', 'overflowed at k = N' or 'underflowed at k = N'."""
        if self.overflow_k is not None:
            return f"overflowed at k = {self.overflow_k}"
        if self.underflow_k is not None:
            return f"underflowed at k = {self.underflow_k}"
        return "ok"


def decay_curve(adjoints: np.ndarray) -> DecayCurve:
    """The curve of adjoints (T, B, H), in the adjoints' dtype, as described above."""
    adjoints = np.asarray(adjoints)
    T = adjoints.shape[0]
    flat = adjoints.reshape(T, -1)[::-1]  # index k = distance from the last step
    finite = np.all(np.isfinite(flat), axis=1)
    peak = np.max(np.abs(np.where(np.isfinite(flat), flat, 0)), axis=1)
    tiny = np.finfo(adjoints.dtype).tiny if adjoints.dtype.kind == "f" else 0.0
    norms = _scaled_norms(flat.astype(np.float64), peak.astype(np.float64))
    ratios = norms / norms[0] if norms[0] > 0 else np.full(T, np.nan)
    ratios = np.where(finite, ratios, np.nan)
    overflow_k = _first(~finite)
    underflow_k = _first(finite & (peak < tiny))
    return DecayCurve(ratios=ratios, overflow_k=overflow_k, underflow_k=underflow_k)


def _scaled_norms(rows: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """2-norm of every row, divided by its peak before squaring so that squares of entries
    below 1e-154 (or above 1e154) neither underflow to 0 nor overflow, even in float64."""
    scale = np.where(peaks > 0, peaks, 1.0)[:, None]
    return np.linalg.norm(rows / scale, axis=1) * scale[:, 0]


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def theory_curve(
    activation: str, W_hh: np.ndarray, K: int, *, exact_alpha: float | None = None
) -> np.ndarray:
    """(K,) theory beside a measured curve: ``alpha**k`` when ``exact_alpha`` is given
    (identity activation, W_hh = alpha Q), else Pascanu's bound ``(gamma * s)**k``."""
    k = np.arange(K, dtype=np.float64)
    if exact_alpha is not None:
        return float(exact_alpha) ** k
    return pascanu_rate(activation, W_hh) ** k


def pascanu_rate(activation: str, W_hh: np.ndarray) -> float:
    """gamma * s: the per-step factor of Pascanu's bound for this activation and W_hh."""
    s = float(np.linalg.norm(np.asarray(W_hh, dtype=np.float64), ord=2))
    return GAMMA[activation] * s


def fitted_rate(curve: DecayCurve) -> float:
    """Per-step factor r of the least-squares fit log ratio[k] = k log r over the valid k
    (a line through the origin, since ratio[0] = 1). NaN when fewer than two k are valid."""
    mask = curve.valid
    k = np.arange(curve.ratios.size, dtype=np.float64)[mask]
    if k.size < 2:
        return math.nan
    logs = np.log(curve.ratios[mask])
    return float(math.exp(np.dot(k, logs) / np.dot(k, k)))


def classify(rate: float, band: float = STABLE_BAND) -> str:
    """'vanishing', 'stable' or 'exploding' for a fitted per-step rate."""
    if not math.isfinite(rate):
        return "undetermined"
    if rate < 1 - band:
        return "vanishing"
    if rate > 1 + band:
        return "exploding"
    return "stable"
