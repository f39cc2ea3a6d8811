"""An rnnbench backend on HIPS autograd: the cell in ``autograd.numpy``, every gradient by
reverse-mode autograd, written only against rnnbench's public interface.

Registered through the entry point ``rnnbench.backends: autograd`` of this package.
Importing this module imports NumPy and rnnbench only; autograd is imported when the backend
is constructed, so ``rnnbench.list_backends()`` works (and reports it unavailable) without it.
"""

from __future__ import annotations

import numpy as np

from rnnbench import Backend, Grads, Params

__all__ = ["AutogradBackend"]
__version__ = "0.1.0"


class AutogradBackend(Backend[np.ndarray]):
    """Gradients of ``L = sum_t <dhs_t, h_t>`` from one ``autograd.grad`` call.

    Per-step adjoints: a zero array eps (T, B, H) is added to every state h_t, so
    dL/d eps_t = dL/dh_t. Truncated BPTT (window k) has the semantics of
    ``rnnbench.reference`` (its module docstring): see ``rnnbench_autograd.rnn.loss``.
    """

    name = "autograd"
    dtypes = frozenset({"float32", "float64"})
    activations = frozenset({"tanh", "relu", "sigmoid", "identity"})
    devices = frozenset({"cpu"})
    supports_truncation = True
    requires = ("autograd",)
    install_hint = "pip install autograd"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        from autograd import grad

        from rnnbench_autograd import rnn

        self.rnn = rnn
        # d loss / d (W_xh, W_hh, b, h0, xs, eps): the five gradients and the adjoints
        self._grads = grad(rnn.loss, argnum=(0, 1, 2, 3, 4, 5))

    def to_native(self, array: np.ndarray) -> np.ndarray:
        return np.array(array, copy=True)

    def to_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def _cell(self, params: Params, x_t, h_prev, activation: str) -> np.ndarray:
        return self.rnn.cell(params.W_xh, params.W_hh, params.b, x_t, h_prev, activation)

    def _unroll(self, params: Params, xs, h0, activation: str) -> np.ndarray:
        return self.rnn.unroll(params.W_xh, params.W_hh, params.b, xs, h0, activation)

    def _bptt(self, params: Params, xs, h0, dhs, activation: str, truncate) -> Grads:
        T = xs.shape[0]
        k = T if truncate is None else min(int(truncate), T)
        # the forward states the truncated streams start from, outside the traced graph
        hs = self._unroll(params, xs, h0, activation) if k < T else None
        eps = np.zeros(dhs.shape, dhs.dtype)
        W_xh, W_hh, b, dh0, dxs, adjoints = self._grads(
            params.W_xh, params.W_hh, params.b, h0, xs, eps, dhs, activation, k, hs
        )
        return Grads(W_xh=W_xh, W_hh=W_hh, b=b, h0=dh0, xs=dxs, hs=adjoints)
