"""Forward pass and hand-written BPTT, written once for any array library with ``@``.

Used by the NumPy reference and by the hand-written torch backend; a backend supplies
``ArrayOps`` (allocation and the activation). The two GEMMs that do not depend on the
recurrence are hoisted: the input projection is one (T*B, D) @ (D, H) product before the
loop, and dW_xh, dW_hh and dxs are one product each over the stacked steps after it.

Truncation with window k: the gradient of loss term s flows back through cells s, s-1, ...,
s-k+1 only. The adjoint hs[t] (0-based, hs[t] = h_{t+1}) then sums the terms s with
0 <= s - t < k, and dL/dh0 collects the terms that pass through the first cell (s < k).
"""

from __future__ import annotations

from typing import Any, Protocol

from rnnbench.activations import derivative_from_output


class ArrayOps(Protocol):
    """The few things the algorithm needs that differ between array libraries."""

    def activation(self, name: str, z: Any) -> Any:
        """f(z) elementwise."""

    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        """An uninitialised array of ``like``'s dtype and device."""

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        """A zero array of ``like``'s dtype and device."""


def cell(ops: ArrayOps, params, x_t, h_prev, activation: str):
    """h_t (B, H) = f(x_t (B, D) @ W_xh + h_prev (B, H) @ W_hh + b)."""
    return ops.activation(activation, x_t @ params.W_xh + h_prev @ params.W_hh + params.b)


def unroll(ops: ArrayOps, params, xs, h0, activation: str):
    """hs (T, B, H) from xs (T, B, D) and h0 (B, H); the input projection is hoisted."""
    T, B, D = xs.shape
    H = params.W_hh.shape[0]
    pre = (xs.reshape(T * B, D) @ params.W_xh + params.b).reshape(T, B, H)
    hs = ops.empty((T, B, H), like=pre)
    h = h0
    for t in range(T):
        h = ops.activation(activation, pre[t] + h @ params.W_hh)
        hs[t] = h
    return hs


def bptt(ops: ArrayOps, params, xs, h0, dhs, activation: str, truncate: int | None):
    """(W_xh, W_hh, b, h0, xs, hs) gradients of L = sum_t <dhs_t, h_t>; see the module doc."""
    T, B, D = xs.shape
    H = params.W_hh.shape[0]
    hs = unroll(ops, params, xs, h0, activation)
    W_hh_T = params.W_hh.T
    adjoints = ops.empty((T, B, H), like=hs)
    deltas = ops.empty((T, B, H), like=hs)  # dL/dz_t = f'(z_t) * adjoint_t
    k = T if truncate is None else min(truncate, T)
    # carries[j] holds what loss term t + j sends to h_t; full BPTT needs only their sum.
    carries = ops.zeros((k if k < T else 1, B, H), like=hs)
    for t in range(T - 1, -1, -1):
        if k < T:
            carries[0] = dhs[t]
            adjoints[t] = carries.sum(0)
        else:
            adjoints[t] = carries[0] + dhs[t]
        fprime = derivative_from_output(activation, hs[t])
        deltas[t] = adjoints[t] if fprime is None else adjoints[t] * fprime
        if k < T:
            local = carries if fprime is None else carries * fprime
            moved = ops.empty(carries.shape, like=hs)
            moved[1:] = (local[:-1].reshape((k - 1) * B, H) @ W_hh_T).reshape(k - 1, B, H)
            carries = moved
        else:
            carries[0] = deltas[t] @ W_hh_T
    d_flat = deltas.reshape(T * B, H)
    dW_hh = h0.T @ deltas[0]
    if T > 1:
        dW_hh = dW_hh + hs[:-1].reshape((T - 1) * B, H).T @ deltas[1:].reshape((T - 1) * B, H)
    return {
        "W_xh": xs.reshape(T * B, D).T @ d_flat,
        "W_hh": dW_hh,
        "b": d_flat.sum(0),
        "h0": deltas[0] @ W_hh_T,
        "xs": (d_flat @ params.W_xh.T).reshape(T, B, D),
        "hs": adjoints,
    }
