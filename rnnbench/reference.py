"""The float64 reference every backend is held to: the built-in NumPy backend, run on a
problem's data upcast to float64.

The NumPy backend is imported on the first call, never by importing this module.
"""

from __future__ import annotations

import numpy as np

from rnnbench.interface import Backend, Grads
from rnnbench.problems import ProblemData
from rnnbench.tolerances import error_scales


def reference_backend() -> Backend[np.ndarray]:
    """The built-in NumPy backend (not whatever is registered under "numpy")."""
    from rnnbench_backends.numpy_backend import NumpyBackend

    return NumpyBackend()


def reference_hs(data: ProblemData) -> np.ndarray:
    """hs (T, B, H), float64: the reference's forward states on ``data`` upcast."""
    ref = reference_backend()
    inputs = ref.load(data.astype("float64"))
    return ref.unroll(inputs.params, inputs.xs, inputs.h0, activation=data.problem.activation)


def reference_grads(data: ProblemData, truncate: int | None = None) -> Grads[np.ndarray]:
    """Every gradient of the reference on ``data`` upcast, float64: W_xh (D, H), W_hh (H, H),
    b (H,), h0 (B, H), xs (T, B, D) and the adjoints hs (T, B, H)."""
    ref = reference_backend()
    i = ref.load(data.astype("float64"))
    return ref.bptt(
        i.params, i.xs, i.h0, i.dhs, activation=data.problem.activation, truncate=truncate
    )


def reference_scales(
    data: ProblemData, hs: np.ndarray, grads: Grads[np.ndarray]
) -> dict[str, float]:
    """The error scale of every reference result (``tolerances.error_scales`` on ``data``
    upcast), from its ``hs`` (T, B, H) and ``grads``: "unroll" and every Grads name."""
    return error_scales(data.astype("float64"), hs, grads)
