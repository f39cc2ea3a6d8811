"""The float64 NumPy reference: forward and BPTT written by hand (``rnnbench.manual_bptt``)."""

from __future__ import annotations

import numpy as np

from rnnbench import manual_bptt
from rnnbench.activations import numpy_activation
from rnnbench.interface import Backend, Grads, Params


class NumpyOps:
    """``manual_bptt.ArrayOps`` for NumPy."""

    activation = staticmethod(numpy_activation)

    @staticmethod
    def empty(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        return np.empty(shape, like.dtype)

    @staticmethod
    def zeros(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        return np.zeros(shape, like.dtype)


class NumpyBackend(Backend[np.ndarray]):
    """Hand-written BPTT in NumPy; in float64 it is the oracle every backend is held to."""

    name = "numpy"
    ops = NumpyOps()

    def to_native(self, array: np.ndarray) -> np.ndarray:
        return np.array(array, copy=True)

    def to_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def _cell(self, params: Params, x_t, h_prev, activation: str) -> np.ndarray:
        return manual_bptt.cell(self.ops, params, x_t, h_prev, activation)

    def _unroll(self, params: Params, xs, h0, activation: str) -> np.ndarray:
        return manual_bptt.unroll(self.ops, params, xs, h0, activation)

    def _bptt(self, params: Params, xs, h0, dhs, activation: str, truncate) -> Grads:
        return Grads(**manual_bptt.bptt(self.ops, params, xs, h0, dhs, activation, truncate))
