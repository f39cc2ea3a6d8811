"""What the hand-written algorithm needs from an array library, and its NumPy version.

The algorithms (``elman``, ``lstm``, ``gru``) are written once, with ``@``, indexing,
``reshape`` and in-place arithmetic only; the few things that differ between libraries
(allocation, the activation, in place or not) come from an ``ArrayOps``.
NumPy's is here; the hand-written torch backend brings its own.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from rnnbench.activations import numpy_activation


class ArrayOps(Protocol):
    """The few things the algorithm needs that differ between array libraries."""

    def activation(self, name: str, z: Any) -> Any:
        """f(z) elementwise, for z of any shape."""

    def activate_(self, name: str, z: Any) -> Any:
        """f(z) elementwise written over z itself (a view of a larger array is updated),
        returning z; no temporaries of z's size."""

    def add_matmul_(self, out: Any, a: Any, b: Any) -> Any:
        """out += a @ b (one GEMM accumulating into out where the library allows), out."""

    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        """An uninitialised array of ``shape`` with ``like``'s dtype and device."""

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        """A zero array of ``shape`` with ``like``'s dtype and device."""


class NumpyOps:
    """``ArrayOps`` for NumPy arrays."""

    activation = staticmethod(numpy_activation)

    @staticmethod
    def activate_(name: str, z: np.ndarray) -> np.ndarray:
        if name == "tanh":
            return np.tanh(z, out=z)
        if name == "sigmoid":  # 1 / (1 + exp(-z)): exp's overflow to inf gives the exact 0
            with np.errstate(over="ignore"):
                np.exp(np.negative(z, out=z), out=z)
            z += 1
            return np.reciprocal(z, out=z)
        z[...] = numpy_activation(name, z)
        return z

    @staticmethod
    def add_matmul_(out: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out += a @ b
        return out

    @staticmethod
    def empty(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        return np.empty(shape, like.dtype)

    @staticmethod
    def zeros(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        return np.zeros(shape, like.dtype)
