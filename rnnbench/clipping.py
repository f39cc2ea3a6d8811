"""Global-norm gradient clipping (Pascanu et al. 2013): rescale every gradient by one factor
so that their joint 2-norm is at most c, keeping the update's direction."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np

G = TypeVar("G", Mapping[str, np.ndarray], Sequence[np.ndarray])


def global_norm(arrays: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> float:
    """sqrt(sum of squares of every entry), in float64 and scaled so that it does not
    overflow for large finite entries; inf if an entry is inf, NaN if one is NaN."""
    values = list(arrays.values()) if isinstance(arrays, Mapping) else list(arrays)
    flat = [np.asarray(a, dtype=np.float64).ravel() for a in values]
    flat = [a for a in flat if a.size]
    if not flat:
        return 0.0
    peak = max(float(np.max(np.abs(a))) for a in flat)
    if not math.isfinite(peak) or peak == 0.0:
        return peak
    return peak * math.sqrt(sum(float(np.sum(np.square(a / peak))) for a in flat))


def clip_by_global_norm(grads: G, max_norm: float) -> tuple[G, float]:
    """``(clipped, norm)``: norm is the global norm of ``grads`` (a mapping or a sequence of
    float arrays); if it exceeds ``max_norm`` every array is multiplied by the same factor
    so the clipped global norm is <= max_norm (exactly, after rounding to each array's
    dtype, in one pass: see ``rounding_margin``), else the arrays are returned untouched.
    A non-finite norm cannot be clipped: the arrays come back untouched with that norm,
    for the caller to report."""
    if not (isinstance(max_norm, int | float) and math.isfinite(max_norm) and max_norm > 0):
        raise ValueError(f"max_norm must be a finite number > 0, got {max_norm!r}")
    norm = global_norm(grads)
    if not math.isfinite(norm) or norm <= max_norm:
        return grads, norm
    values = list(grads.values()) if isinstance(grads, Mapping) else list(grads)
    target = max_norm * max(0.0, 1.0 - rounding_margin(values, max_norm))

    def scale(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)
        return (np.asarray(a, dtype=np.float64) / norm * target).astype(a.dtype)

    if isinstance(grads, Mapping):
        return {name: scale(a) for name, a in grads.items()}, norm
    return [scale(a) for a in grads], norm


#: unit roundoff of float64, in which the norm and the scaling are computed
U64 = 2.0**-53


def rounding_margin(arrays: Sequence[np.ndarray], max_norm: float) -> float:
    """The relative amount m by which clipping aims below ``max_norm``: scaling every entry
    g to fl_d(fl(fl(g / N) * t)), t = fl(max_norm * (1 - m)), N the computed global norm and
    d each array's dtype, then gives a computed global norm <= max_norm, with no retry.

    Why. Let c = max_norm, n entries in k arrays, u the unit roundoff of the coarsest dtype
    (eps / 2), s the largest u_d * tiny_d (half the subnormal spacing), and
    eta = (n + k + 6) * U64: ``global_norm`` computes ||x|| to a relative error eta (one
    division and one square per entry, n + k additions of non-negative terms, a square
    root, a product; n * U64 < 1e-3 assumed). The computed N is >= ||g|| (1 - eta), t is
    <= c (1 - m) (1 + U64)^2, and each clipped entry is <= |g| t / N (1 + U64)^2 (1 + u),
    plus at most 2.01 s + 1.01 c U64 tiny64 where a result is subnormal. So the clipped
    norm is <= c (1 - m) (1 + 1.01 e) + 2.02 sqrt(n) s + U64 c, with
    e = u + 2 eta + 5 U64, and its computed value at most (1 + eta) times that. Hence
    m = 2 (e + U64) + 4 sqrt(n) s / c keeps it <= c: the first-order terms e, U64 and
    2 sqrt(n) s / c are each covered twice over. When m >= 1 (c within a few subnormal
    steps of zero) the clipped arrays are zeros, whose norm 0 is within any bound.
    """
    finfos = [np.finfo(np.asarray(a).dtype) for a in arrays]
    n = sum(int(np.size(a)) for a in arrays)
    u = max(float(f.eps) / 2 for f in finfos)
    s = max(float(f.eps) / 2 * float(f.smallest_normal) for f in finfos)
    eta = (n + len(arrays) + 6) * U64
    e = u + 2 * eta + 5 * U64
    return 2 * (e + U64) + 4 * math.sqrt(n) * s / max_norm
