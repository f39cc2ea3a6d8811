"""The oracle as a Backend: ``rnnbench.reference``'s hand-written algorithms (elman, lstm,
gru) on NumPy arrays.

In float64 this is the code every backend is held to; the registry's "numpy" backend
(``rnnbench_backends.numpy_backend``) is this class under its own module.
"""

from __future__ import annotations

import numpy as np

from rnnbench.cells import CELL_NAMES
from rnnbench.interface import Backend, Grads, Params
from rnnbench.reference import algorithms
from rnnbench.reference.ops import NumpyOps


class ReferenceBackend(Backend[np.ndarray]):
    """Forward pass and hand-written BPTT in NumPy (``rnnbench.reference.algorithms``)."""

    name = "numpy"
    cells = frozenset(CELL_NAMES)
    ops = NumpyOps()

    def to_native(self, array: np.ndarray) -> np.ndarray:
        """A copy of ``array``."""
        return np.array(array, copy=True)

    def to_numpy(self, array: np.ndarray) -> np.ndarray:
        """``array`` itself."""
        return np.asarray(array)

    def _cell(self, params: Params, x_t, h_prev, activation: str, **state):
        """h_t (B, H) (LSTM: (h_t, c_t)) from x_t (B, D) and h_prev (B, H)."""
        return algorithms.cell(self.ops, params, x_t, h_prev, activation, **state)

    def _unroll(self, params: Params, xs, h0, activation: str, **state0) -> np.ndarray:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
        return self._states(params, xs, h0, activation, **state0)["hs"]

    def _states(self, params: Params, xs, h0, activation: str, **state0) -> dict:
        """{"hs"} (LSTM: and "cs"), each (T, B, H)."""
        return algorithms.states(self.ops, params, xs, h0, activation, **state0)

    def _bptt(self, params: Params, xs, h0, dhs, activation: str, truncate, **state) -> Grads:
        """Gradients (names and shapes as ``Grads``), full or truncated."""
        return Grads(
            **algorithms.gradients(self.ops, params, xs, h0, dhs, activation, truncate, **state)
        )
