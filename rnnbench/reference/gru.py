"""The GRU cell, its forward pass and hand-written BPTT, for any array library with ``@``.

Gates r, z, n along the 3H axis (PyTorch/cuDNN order), the reset applied after the
recurrent product, so there are two biases: with ``gx = x_t W_x + b_x`` and
``gh = h_{t-1} W_h + b_h`` (B, 3H), ``r = sigmoid(gx_r + gh_r)``, ``z = sigmoid(gx_z +
gh_z)``, ``n = tanh(gx_n + r*gh_n)``, ``h_t = (1-z)*n + z*h_{t-1}``.
W_x (D, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,). The loss is ``L = sum_t <dhs_t, h_t>``.

The input projection is one (T*B, D) @ (D, 3H) GEMM before the loop; the backward loop
turns the cotangents into the adjoints dL/dh_t and two sets of deltas, dL/dgx (T, B, 3H)
and dL/dgh (T, B, 3H) (they differ in the n block by the factor r); dW_x, dW_h and dxs are
one GEMM each after it. Truncation (window k, meaning as in ``rnnbench.reference``): the
loop keeps the k youngest loss terms apart, ``carries[j]`` being what term t + j sends
to h_t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnbench.interface import Params
from rnnbench.reference.ops import ArrayOps, NumpyOps
from rnnbench.reference.stacked import recurrent_weight_gradient


@dataclass(frozen=True)
class Forward:
    """The forward pass: hs (T, B, H), the gates r, z, n (T, B, 3H) and gh_n (T, B, H), the
    recurrent product of the n block (what the reset multiplies)."""

    hs: Any
    gates: Any
    ghn: Any


def _step(ops: ArrayOps, gates: Any, gh: Any, h_prev: Any) -> Any:
    """h_t from h_prev (B, H), gh (B, 3H) and ``gates`` (B, 3H), which holds gx on entry and
    the gates r, z, n on return."""
    H = h_prev.shape[-1]
    gates[..., : 2 * H] += gh[..., : 2 * H]
    ops.activate_("sigmoid", gates[..., : 2 * H])
    r, z = gates[..., :H], gates[..., H : 2 * H]
    gates[..., 2 * H :] += r * gh[..., 2 * H :]
    n = ops.activate_("tanh", gates[..., 2 * H :])
    return n + z * (h_prev - n)


def cell(ops: ArrayOps, params: Any, x_t: Any, h_prev: Any) -> Any:
    """h_t (B, H) from x_t (B, D) and h_prev (B, H)."""
    gh = h_prev @ params.W_h + params.b_h
    return _step(ops, x_t @ params.W_x + params.b_x, gh, h_prev)


def forward(ops: ArrayOps, params: Any, xs: Any, h0: Any) -> Forward:
    """hs (T, B, H), gates (T, B, 3H) and gh_n (T, B, H) from xs (T, B, D) and h0 (B, H).
    The gates array first holds the hoisted input projection gx, completed and activated
    in place step by step."""
    T, B, D = xs.shape
    H = h0.shape[-1]
    gates = (xs.reshape(T * B, D) @ params.W_x).reshape(T, B, 3 * H)
    gates += params.b_x
    hs = ops.empty((T, B, H), like=gates)
    ghn = ops.empty((T, B, H), like=gates)
    h = h0
    for t in range(T):
        gh = h @ params.W_h
        gh += params.b_h
        ghn[t] = gh[:, 2 * H :]
        hs[t] = _step(ops, gates[t], gh, h)
        h = hs[t]
    return Forward(hs, gates, ghn)


def _gate_deltas(dh: Any, gates: Any, ghn: Any, h_prev: Any, dx: Any, dgh: Any) -> None:
    """(dL/dgx, dL/dgh), each (..., B, 3H), written into ``dx`` and ``dgh``, from dh = dL/dh_t
    (..., B, H), the gates (B, 3H), gh_n and h_prev (B, H)."""
    H = h_prev.shape[-1]
    r, z, n = (gates[..., j * H : (j + 1) * H] for j in range(3))
    dx[..., 2 * H :] = dh * (1 - z) * (1 - n * n)
    da_n = dx[..., 2 * H :]
    dx[..., :H] = da_n * ghn * (r * (1 - r))
    dx[..., H : 2 * H] = dh * (h_prev - n) * (z * (1 - z))
    dgh[..., : 2 * H] = dx[..., : 2 * H]
    dgh[..., 2 * H :] = da_n * r


def bptt(
    ops: ArrayOps, params: Any, xs: Any, h0: Any, fwd: Forward, dhs: Any, k: int | None = None
) -> dict[str, Any]:
    """The gradients of L (names and shapes as ``Grads``: W_x, W_h, b_x, b_h, h0, xs, hs)
    from the forward pass; ``k`` the truncation window (None: full BPTT)."""
    T, B, H = fwd.hs.shape
    W_h_T = params.W_h.T
    adj = ops.empty((T, B, H), like=fwd.hs)
    deltas_x = ops.empty((T, B, 3 * H), like=fwd.hs)
    deltas_h = ops.empty((T, B, 3 * H), like=fwd.hs)
    m = 1 if k is None else k
    carry = ops.zeros((m, B, H), like=fwd.hs)  # carry[j]: what term t + j sends to h_t
    for t in range(T - 1, -1, -1):
        h_prev = fwd.hs[t - 1] if t > 0 else h0
        z_t = fwd.gates[t][:, H : 2 * H]
        carry[0] = carry[0] + dhs[t] if k is None else dhs[t]
        adj[t] = carry.sum(0)
        _gate_deltas(adj[t], fwd.gates[t], fwd.ghn[t], h_prev, deltas_x[t], deltas_h[t])
        if k is None:
            carry[0] = adj[t] * z_t + deltas_h[t] @ W_h_T
        elif k > 1:  # terms with cells to go move one step; the oldest is dropped
            moving_x = ops.empty((k - 1, B, 3 * H), like=fwd.hs)
            moving = ops.empty((k - 1, B, 3 * H), like=fwd.hs)
            _gate_deltas(carry[:-1], fwd.gates[t], fwd.ghn[t], h_prev, moving_x, moving)
            moved = ops.empty((k, B, H), like=fwd.hs)
            moved[1:] = carry[:-1] * z_t + (moving.reshape((k - 1) * B, 3 * H) @ W_h_T).reshape(
                k - 1, B, H
            )
            carry = moved
    z_0 = fwd.gates[0][:, H : 2 * H]
    grads = assemble(params, xs, h0, fwd.hs, deltas_x, deltas_h)
    grads["h0"] = adj[0] * z_0 + grads["h0"]
    return {**grads, "hs": adj}


def assemble(
    params: Any, xs: Any, h0: Any, hs: Any, deltas_x: Any, deltas_h: Any
) -> dict[str, Any]:
    """W_x, W_h, b_x, b_h and xs gradients, and the recurrent-product part of h0's, from the
    deltas (T, B, 3H), one GEMM each."""
    T, B, D = xs.shape
    H = hs.shape[2]
    dx = deltas_x.reshape(T * B, 3 * H)
    dW_h = recurrent_weight_gradient(h0, hs, deltas_h)
    return {
        "W_x": xs.reshape(T * B, D).T @ dx,
        "W_h": dW_h,
        "b_x": dx.sum(0),
        "b_h": deltas_h.reshape(T * B, 3 * H).sum(0),
        "h0": deltas_h[0] @ params.W_h.T,
        "xs": (dx @ params.W_x.T).reshape(T, B, D),
    }


def gradients(
    ops: ArrayOps, params: Any, xs: Any, h0: Any, dhs: Any, truncate: int | None
) -> dict[str, Any]:
    """``forward`` then ``bptt`` (window ``truncate``; None or >= T: full BPTT)."""
    fwd = forward(ops, params, xs, h0)
    k = None if truncate is None or truncate >= xs.shape[0] else truncate
    return bptt(ops, params, xs, h0, fwd, dhs, k)


def error_scales(
    params: dict[str, np.ndarray], arrays: dict[str, np.ndarray], grads: dict[str, np.ndarray]
) -> dict[str, float]:
    """Magnitude of the terms behind every float64 result (see ``tolerances``): "unroll" and
    every gradient name. Each derivative of a gate is replaced by its bound (1/4 for the
    sigmoid, 1 for tanh), as a rounded gate computes it."""
    xs, h0, dhs = arrays["xs"], arrays["h0"], arrays["dhs"]
    fwd = forward(NumpyOps(), Params(**params), xs, h0)
    T, B, H = fwd.hs.shape
    A = {name: np.abs(value) for name, value in params.items()}
    r, z, n = (np.abs(fwd.gates[..., j * H : (j + 1) * H]) for j in range(3))
    h_prev = np.abs(np.concatenate([h0[None], fwd.hs[:-1]]))
    ah = np.abs(grads["hs"])
    da_n = ah * np.abs(1 - fwd.gates[..., H : 2 * H])
    da_r = 0.25 * da_n * np.abs(fwd.ghn)
    da_z = 0.25 * ah * (h_prev + n)
    dm_x = np.concatenate([da_r, da_z, da_n], axis=-1)
    dm_h = np.concatenate([da_r, da_z, da_n * r], axis=-1)
    terms = assemble(Params(**A), np.abs(xs), np.abs(h0), np.abs(fwd.hs), dm_x, dm_h)
    terms["h0"] = terms["h0"] + ah[0] * z[0]
    h_terms = np.abs(dhs).copy()
    h_terms[:-1] += ah[1:] * z[1:] + dm_h[1:] @ A["W_h"].T
    terms["hs"] = np.maximum(h_terms, ah)
    gx = np.abs(xs) @ A["W_x"] + A["b_x"]
    gh = h_prev @ A["W_h"] + A["b_h"]
    terms["unroll"] = np.abs(fwd.hs) + h_prev + (gx + gh).reshape(T, B, 3, H).sum(2)
    return {name: float(np.max(value, initial=0.0)) for name, value in terms.items()}
