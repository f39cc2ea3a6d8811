"""The one tolerance rule for comparing a backend with the float64 reference.

Error measure (normwise): ``err(g, ref) = max|g - ref| / scale`` where ``scale`` is the
largest magnitude of the *terms* that make up the reference, not of the result: a gradient
such as dL/db = sum_t delta_t can cancel to far below its terms, and rounding errors are
relative to the terms. ``error_scales`` gives these scales (each is >= max|ref|); without
one, ``scale = max|ref|``. The scale is floored at the smallest normal number of the
value's dtype: a float32 result cannot resolve a gradient that underflows float32.

Allowed error: ``tolerance(dtype, T) = C * eps(dtype) * sqrt(T)`` with C = 64, eps the machine
epsilon of the backend's dtype and T the sequence length (the number of steps rounding
errors accumulate over; they add up like a random walk). For float32 that is 7.6e-6 at
T = 1 and 2.4e-4 at T = 1000; the measured worst float32 error at T <= 1000 is 1.5e-6.
For float64 it is 1.4e-14 at T = 1.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from rnnbench.activations import GAMMA

if TYPE_CHECKING:
    from rnnbench.interface import Grads
    from rnnbench.problems import ProblemData

SAFETY_FACTOR = 64.0


def tolerance(dtype: str, T: int) -> float:
    """The largest normwise error allowed for a ``dtype`` run over ``T`` steps."""
    return SAFETY_FACTOR * float(np.finfo(dtype).eps) * math.sqrt(max(T, 1))


def normwise_error(value: np.ndarray, reference: np.ndarray, scale: float | None = None) -> float:
    """max|value - reference| / scale (default max|reference|; floored at the smallest normal
    number of value's dtype), in float64; inf on a shape mismatch or where ``value`` is not
    finite and the reference is."""
    value = np.asarray(value)
    floor = float(np.finfo(value.dtype if value.dtype.kind == "f" else np.float64).tiny)
    value = value.astype(np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if value.shape != reference.shape:
        return math.inf
    if value.size == 0:
        return 0.0
    diff = np.abs(value - reference)
    if not np.all(np.isfinite(diff)):
        return math.inf
    if scale is None:
        scale = float(np.max(np.abs(reference)))
    return float(np.max(diff)) / max(scale, floor)


def error_scales(data: ProblemData, hs: np.ndarray, grads: Grads) -> dict[str, float]:
    """Magnitude of the terms behind every reference result, for ``normwise_error``: one
    scale per gradient name of ``Grads`` and ``"unroll"`` for the forward hs.

    ``data`` in float64, ``hs`` (T, B, H) and ``grads`` from the float64 reference. Each
    result is a sum of products; its scale is the same sum taken over absolute values, with
    f'(z_t) replaced by its bound gamma: a saturated tanh or sigmoid computes f' = 1 - h^2 or
    h (1 - h) from a rounded h, with an error relative to gamma, not to f' itself.
    """
    T, B, D = data.xs.shape
    H = data.W_hh.shape[0]
    slope = GAMMA[data.problem.activation]
    delta = slope * np.abs(grads.hs)
    h_prev = np.abs(np.concatenate([data.h0[None], hs[:-1]]))
    x, Wx, Wh = np.abs(data.xs), np.abs(data.W_xh), np.abs(data.W_hh)
    z_terms = (x.reshape(T * B, D) @ Wx).reshape(T, B, H) + h_prev @ Wh + np.abs(data.b)
    flat_delta = delta.reshape(T * B, H)
    adjoint_terms = np.abs(data.dhs).copy()
    adjoint_terms[:-1] += delta[1:] @ Wh.T
    terms = {
        "unroll": np.abs(hs) + slope * z_terms,
        "W_xh": x.reshape(T * B, D).T @ flat_delta,
        "W_hh": h_prev.reshape(T * B, H).T @ flat_delta,
        "b": flat_delta.sum(0),
        "h0": delta[0] @ Wh.T,
        "xs": delta @ Wx.T,
        "hs": np.maximum(adjoint_terms, np.abs(grads.hs)),
    }
    return {name: float(np.max(value, initial=0.0)) for name, value in terms.items()}
