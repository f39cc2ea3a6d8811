"""The oracle as a Backend: ``rnnbench.reference.elman`` on NumPy arrays.

In float64 this is the code every backend is held to; the registry's "numpy" backend
(``rnnbench_backends.numpy_backend``) is this class under its own module.
"""

from __future__ import annotations

import numpy as np

from rnnbench.interface import Backend, Grads, Params
from rnnbench.reference import elman
from rnnbench.reference.ops import NumpyOps


class ReferenceBackend(Backend[np.ndarray]):
    """Forward pass and hand-written BPTT in NumPy (see ``rnnbench.reference.elman``)."""

    name = "numpy"
    ops = NumpyOps()

    def to_native(self, array: np.ndarray) -> np.ndarray:
        """A copy of ``array``."""
        return np.array(array, copy=True)

    def to_numpy(self, array: np.ndarray) -> np.ndarray:
        """``array`` itself."""
        return np.asarray(array)

    def _cell(self, params: Params, x_t, h_prev, activation: str) -> np.ndarray:
        """h_t (B, H) from x_t (B, D) and h_prev (B, H)."""
        return elman.cell(self.ops, params, x_t, h_prev, activation)

    def _unroll(self, params: Params, xs, h0, activation: str) -> np.ndarray:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
        return elman.unroll(self.ops, params, xs, h0, activation)

    def _bptt(self, params: Params, xs, h0, dhs, activation: str, truncate) -> Grads:
        """Gradients (shapes as ``Grads``) of sum_t <dhs_t, h_t>, full or truncated."""
        return Grads(**elman.gradients(self.ops, params, xs, h0, dhs, activation, truncate))
