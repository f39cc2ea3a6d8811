"""The Elman cell, its forward pass and hand-written BPTT, for any array library with ``@``.

``h_t = f(x_t @ W_xh + h_{t-1} @ W_hh + b)`` with x_t (B, D), h (B, H); the loss is
``L = sum_t <dhs_t, h_t>``. The float64 oracle runs this on NumPy arrays and the hand-written
torch backend on tensors; an ``ArrayOps`` supplies allocation and the activation.

The GEMMs that do not depend on the recurrence are hoisted out of the time loops: the input
projection is one (T*B, D) @ (D, H) product before the forward loop, and dW_xh, dW_hh and
dxs are one product each over the stacked steps after the backward loop. The backward loops
only turn the loss's cotangents dhs into ``adjoints`` (dL/dh_t) and ``deltas`` (dL/dz_t);
full and truncated BPTT differ in that loop alone (truncation's meaning: see
``rnnbench.reference``).
"""

from __future__ import annotations

from typing import Any

from rnnbench.activations import derivative_from_output
from rnnbench.reference.ops import ArrayOps
from rnnbench.reference.stacked import recurrent_weight_gradient


def cell(ops: ArrayOps, params: Any, x_t: Any, h_prev: Any, activation: str) -> Any:
    """h_t (B, H) = f(x_t (B, D) @ W_xh + h_prev (B, H) @ W_hh + b)."""
    return ops.activation(activation, x_t @ params.W_xh + h_prev @ params.W_hh + params.b)


def unroll(ops: ArrayOps, params: Any, xs: Any, h0: Any, activation: str) -> Any:
    """hs (T, B, H), hs[t] = h_{t+1}, from xs (T, B, D) and h0 (B, H)."""
    T, B, D = xs.shape
    H = params.W_hh.shape[0]
    pre = (xs.reshape(T * B, D) @ params.W_xh + params.b).reshape(T, B, H)
    hs = ops.empty((T, B, H), like=pre)
    h = h0
    for t in range(T):
        h = ops.activation(activation, pre[t] + h @ params.W_hh)
        hs[t] = h
    return hs


def bptt(
    ops: ArrayOps, params: Any, xs: Any, h0: Any, hs: Any, dhs: Any, activation: str
) -> dict[str, Any]:
    """Full BPTT: the gradients of L (names and shapes as ``Grads``: W_xh, W_hh, b, h0, xs,
    and the adjoints hs (T, B, H)) from the forward states hs (T, B, H) and dhs (T, B, H)."""
    T, B, H = hs.shape
    W_hh_T = params.W_hh.T
    adjoints = ops.empty((T, B, H), like=hs)
    deltas = ops.empty((T, B, H), like=hs)
    carry = ops.zeros((B, H), like=hs)  # what the cells after t send back to h_t
    for t in range(T - 1, -1, -1):
        adjoints[t] = carry + dhs[t]
        deltas[t] = _times_fprime(activation, adjoints[t], hs[t])
        carry = deltas[t] @ W_hh_T
    return _gradients(params, xs, h0, hs, deltas, adjoints)


def bptt_truncated(
    ops: ArrayOps, params: Any, xs: Any, h0: Any, hs: Any, dhs: Any, activation: str, k: int
) -> dict[str, Any]:
    """BPTT with window k >= 1: each loss term's gradient flows back through at most k cells.

    Same arguments and results as ``bptt``. The adjoint of h_t then sums only the terms
    s with 0 <= s - t < k, so the loop keeps them apart: ``carries[j]`` (B, H) is what loss
    term t + j sends to h_t, and a term is dropped once it has passed k cells. Cost
    O(k T B H^2).
    """
    T, B, H = hs.shape
    W_hh_T = params.W_hh.T
    adjoints = ops.empty((T, B, H), like=hs)
    deltas = ops.empty((T, B, H), like=hs)
    carries = ops.zeros((k, B, H), like=hs)
    for t in range(T - 1, -1, -1):
        carries[0] = dhs[t]
        adjoints[t] = carries.sum(0)
        deltas[t] = _times_fprime(activation, adjoints[t], hs[t])
        through = _times_fprime(activation, carries[:-1], hs[t])  # terms with cells to go
        moved = ops.empty((k, B, H), like=hs)
        moved[1:] = (through.reshape((k - 1) * B, H) @ W_hh_T).reshape(k - 1, B, H)
        carries = moved
    return _gradients(params, xs, h0, hs, deltas, adjoints)


def gradients(
    ops: ArrayOps,
    params: Any,
    xs: Any,
    h0: Any,
    dhs: Any,
    activation: str,
    truncate: int | None,
    hs: Any = None,
) -> dict[str, Any]:
    """``bptt``, or ``bptt_truncated`` when a window ``truncate`` < T is given, after
    ``unroll`` unless the forward states hs (T, B, H) are passed in."""
    if hs is None:
        hs = unroll(ops, params, xs, h0, activation)
    if truncate is None or truncate >= xs.shape[0]:
        return bptt(ops, params, xs, h0, hs, dhs, activation)
    return bptt_truncated(ops, params, xs, h0, hs, dhs, activation, truncate)


def _times_fprime(activation: str, adjoint: Any, h: Any) -> Any:
    """adjoint * f'(z) with f' written from the output h = f(z) (broadcast over leading
    dimensions of ``adjoint``); the adjoint itself for the identity."""
    fprime = derivative_from_output(activation, h)
    return adjoint if fprime is None else adjoint * fprime


def _gradients(
    params: Any, xs: Any, h0: Any, hs: Any, deltas: Any, adjoints: Any
) -> dict[str, Any]:
    """The parameter and input gradients from the deltas (T, B, H), one GEMM each."""
    T, B, D = xs.shape
    H = hs.shape[2]
    W_hh_T = params.W_hh.T
    d_flat = deltas.reshape(T * B, H)
    dW_hh = recurrent_weight_gradient(h0, hs, deltas)
    return {
        "W_xh": xs.reshape(T * B, D).T @ d_flat,
        "W_hh": dW_hh,
        "b": d_flat.sum(0),
        "h0": deltas[0] @ W_hh_T,
        "xs": (d_flat @ params.W_xh.T).reshape(T, B, D),
        "hs": adjoints,
    }
