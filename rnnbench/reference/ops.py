"""What the hand-written algorithm needs from an array library, and its NumPy version.

``rnnbench.reference.elman`` is written once, with ``@``, indexing and ``reshape`` only; the
few things that differ between libraries (allocation and the activation) come from an
``ArrayOps``. NumPy's is here; the hand-written torch backend brings its own.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from rnnbench.activations import numpy_activation


class ArrayOps(Protocol):
    """The few things the algorithm needs that differ between array libraries."""

    def activation(self, name: str, z: Any) -> Any:
        """f(z) elementwise, for z of any shape."""

    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        """An uninitialised array of ``shape`` with ``like``'s dtype and device."""

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        """A zero array of ``shape`` with ``like``'s dtype and device."""


class NumpyOps:
    """``ArrayOps`` for NumPy arrays."""

    activation = staticmethod(numpy_activation)

    @staticmethod
    def empty(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        return np.empty(shape, like.dtype)

    @staticmethod
    def zeros(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        return np.zeros(shape, like.dtype)
