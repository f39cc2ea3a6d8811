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
    arrays); if it exceeds ``max_norm`` every array is multiplied by the same factor so the
    clipped global norm is <= max_norm (exactly, after rounding to each array's dtype),
    else the arrays are returned untouched. A non-finite norm cannot be clipped: the arrays
    come back untouched with that norm, for the caller to report."""
    if not (isinstance(max_norm, int | float) and math.isfinite(max_norm) and max_norm > 0):
        raise ValueError(f"max_norm must be a finite number > 0, got {max_norm!r}")
    norm = global_norm(grads)
    if not math.isfinite(norm) or norm <= max_norm:
        return grads, norm
    factor = max_norm / norm
    values = grads.values() if isinstance(grads, Mapping) else grads
    step = max(float(np.finfo(np.asarray(a).dtype).eps) for a in values)
    while True:
        clipped = _scaled(grads, factor)
        if global_norm(clipped) <= max_norm:
            return clipped, norm
        factor *= 1 - step  # rounding overshot by an ulp: back off by one ulp of the dtype


def _scaled(grads: G, factor: float) -> G:
    def scale(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)
        return (a * factor).astype(a.dtype, copy=False)

    if isinstance(grads, Mapping):
        return {name: scale(a) for name, a in grads.items()}
    return [scale(a) for a in grads]
