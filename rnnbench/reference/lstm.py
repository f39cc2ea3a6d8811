"""The LSTM cell, its forward pass and hand-written BPTT, for any array library with ``@``.

Gates i, f, g, o along the 4H axis (PyTorch/cuDNN order): with ``a = x_t W_x + h_{t-1} W_h
+ b`` (B, 4H), ``i, f, o = sigmoid(a_i, a_f, a_o)``, ``g = tanh(a_g)``,
``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``. W_x (D, 4H), W_h (H, 4H), b (4H,).
The loss is ``L = sum_t <dhs_t, h_t> + sum_t <dcs_t, c_t>`` (dcs None: zero).

As for the Elman cell the input projection is one (T*B, D) @ (D, 4H) GEMM before the loop,
and dW_x, dW_h and dxs are one GEMM each after the backward loop, which only turns the
cotangents into the adjoints dL/dh_t, dL/dc_t and the gate deltas dL/da_t (T, B, 4H).

Adjoints: ``hs[t]`` = dL/dh_{t+1} and ``cs[t]`` = dL/dc_{t+1}, each the total derivative
through every later step; so ``cs[t] = dcs[t] + hs[t]*o*(1 - tanh^2 c) + cs[t+1]*f_{t+1}``.
Truncation (window k, meaning as in ``rnnbench.reference``): the backward loop keeps the k
youngest loss terms apart, ``carries[j]`` being what term t + j sends to (h_t, c_t).
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
    """The forward pass: hs, cs, tanh(cs) (T, B, H) and the activated gates (T, B, 4H)."""

    hs: Any
    cs: Any
    tanh_cs: Any
    gates: Any


def _activate_(ops: ArrayOps, a: Any) -> Any:
    """The gate activations of the pre-activations a (..., 4H), written over a."""
    H = a.shape[-1] // 4
    ops.activate_("sigmoid", a[..., : 2 * H])
    ops.activate_("tanh", a[..., 2 * H : 3 * H])
    ops.activate_("sigmoid", a[..., 3 * H :])
    return a


def _gates(gates: Any, H: int) -> tuple[Any, Any, Any, Any]:
    """The views i, f, g, o (..., H) of gates (..., 4H)."""
    return tuple(gates[..., n * H : (n + 1) * H] for n in range(4))


def cell(ops: ArrayOps, params: Any, x_t: Any, h_prev: Any, c_prev: Any) -> tuple[Any, Any]:
    """(h_t, c_t), each (B, H), from x_t (B, D), h_prev (B, H), c_prev (B, H)."""
    H = h_prev.shape[-1]
    i, f, g, o = _gates(_activate_(ops, x_t @ params.W_x + h_prev @ params.W_h + params.b), H)
    c = f * c_prev + i * g
    return o * ops.activation("tanh", c), c


def forward(ops: ArrayOps, params: Any, xs: Any, h0: Any, c0: Any) -> Forward:
    """hs, cs, tanh(cs) (T, B, H) and gates (T, B, 4H) from xs (T, B, D), h0 and c0 (B, H).
    The gates array first holds the hoisted input projection, each step's pre-activations
    are completed and activated in place."""
    T, B, D = xs.shape
    H = h0.shape[-1]
    gates = (xs.reshape(T * B, D) @ params.W_x).reshape(T, B, 4 * H)
    gates += params.b
    hs = ops.empty((T, B, H), like=gates)
    cs = ops.empty((T, B, H), like=gates)
    tanh_cs = ops.empty((T, B, H), like=gates)
    h, c = h0, c0
    for t in range(T):
        ops.add_matmul_(gates[t], h, params.W_h)
        i, f, g, o = _gates(_activate_(ops, gates[t]), H)
        cs[t] = f * c + i * g
        tanh_cs[t] = ops.activation("tanh", cs[t])
        hs[t] = o * tanh_cs[t]
        h, c = hs[t], cs[t]
    return Forward(hs, cs, tanh_cs, gates)


def _gate_deltas(dh: Any, dc: Any, gates: Any, c_prev: Any, tc: Any, out: Any) -> Any:
    """dL/da (..., B, 4H), written into ``out``, from the adjoints dh = dL/dh_t and dc =
    dL/dc_t (..., B, H) (dc already holding the path through h_t), the gates (B, 4H), c_prev
    and tc = tanh(c_t)."""
    H = c_prev.shape[-1]
    i, f, g, o = _gates(gates, H)
    out[..., :H] = dc * g * (i * (1 - i))
    out[..., H : 2 * H] = dc * c_prev * (f * (1 - f))
    out[..., 2 * H : 3 * H] = dc * i * (1 - g * g)
    out[..., 3 * H :] = dh * tc * (o * (1 - o))
    return out


def bptt(
    ops: ArrayOps,
    params: Any,
    xs: Any,
    h0: Any,
    c0: Any,
    fwd: Forward,
    dhs: Any,
    dcs: Any,
    k: int | None = None,
) -> dict[str, Any]:
    """The gradients of L (names and shapes as ``Grads``: W_x, W_h, b, h0, c0, xs, hs, cs)
    from the forward pass; ``k`` the truncation window (None: full BPTT)."""
    T, B, H = fwd.hs.shape
    W_h_T = params.W_h.T
    adj_h = ops.empty((T, B, H), like=fwd.hs)
    adj_c = ops.empty((T, B, H), like=fwd.hs)
    deltas = ops.empty((T, B, 4 * H), like=fwd.hs)
    m = 1 if k is None else k
    carry_h = ops.zeros((m, B, H), like=fwd.hs)  # carry[j]: what term t + j sends to h_t
    carry_c = ops.zeros((m, B, H), like=fwd.hs)
    for t in range(T - 1, -1, -1):
        g_t = fwd.gates[t]
        c_prev = fwd.cs[t - 1] if t > 0 else c0
        tc = fwd.tanh_cs[t]
        through_h = g_t[:, 3 * H :] * (1 - tc * tc)  # dc_t/dh_t-path factor o * tanh'
        if k is None:
            carry_h[0] += dhs[t]
            if dcs is not None:
                carry_c[0] += dcs[t]
        else:
            carry_h[0] = dhs[t]
            carry_c[0] = 0 if dcs is None else dcs[t]
        dc_terms = carry_c + carry_h * through_h
        adj_h[t] = carry_h.sum(0)
        adj_c[t] = dc_terms.sum(0)
        _gate_deltas(adj_h[t], adj_c[t], g_t, c_prev, tc, out=deltas[t])
        f_t = g_t[:, H : 2 * H]
        if k is None:
            carry_h[0] = deltas[t] @ W_h_T
            carry_c[0] = adj_c[t] * f_t
        elif k > 1:  # terms with cells to go move one step; the oldest is dropped
            moving = ops.empty((k - 1, B, 4 * H), like=fwd.hs)
            _gate_deltas(carry_h[:-1], dc_terms[:-1], g_t, c_prev, tc, out=moving)
            moved_h = ops.empty((k, B, H), like=fwd.hs)
            moved_h[1:] = (moving.reshape((k - 1) * B, 4 * H) @ W_h_T).reshape(k - 1, B, H)
            moved_c = ops.empty((k, B, H), like=fwd.hs)
            moved_c[1:] = dc_terms[:-1] * f_t
            carry_h, carry_c = moved_h, moved_c
    grads = assemble(params, xs, h0, fwd.hs, deltas)
    grads["c0"] = adj_c[0] * fwd.gates[0][:, H : 2 * H]
    return {**grads, "hs": adj_h, "cs": adj_c}


def assemble(params: Any, xs: Any, h0: Any, hs: Any, deltas: Any) -> dict[str, Any]:
    """W_x, W_h, b, h0 and xs gradients from the deltas (T, B, 4H), one GEMM each."""
    T, B, D = xs.shape
    H = hs.shape[2]
    d_flat = deltas.reshape(T * B, 4 * H)
    dW_h = recurrent_weight_gradient(h0, hs, deltas)
    return {
        "W_x": xs.reshape(T * B, D).T @ d_flat,
        "W_h": dW_h,
        "b": d_flat.sum(0),
        "h0": deltas[0] @ params.W_h.T,
        "xs": (d_flat @ params.W_x.T).reshape(T, B, D),
    }


def gradients(
    ops: ArrayOps,
    params: Any,
    xs: Any,
    h0: Any,
    c0: Any,
    dhs: Any,
    dcs: Any,
    truncate: int | None,
) -> dict[str, Any]:
    """``forward`` then ``bptt`` (window ``truncate``; None or >= T: full BPTT)."""
    fwd = forward(ops, params, xs, h0, c0)
    k = None if truncate is None or truncate >= xs.shape[0] else truncate
    return bptt(ops, params, xs, h0, c0, fwd, dhs, dcs, k)


def error_scales(
    params: dict[str, np.ndarray], arrays: dict[str, np.ndarray], grads: dict[str, np.ndarray]
) -> dict[str, float]:
    """Magnitude of the terms behind every float64 result (see ``tolerances``): "unroll"
    (and "states" for cs) and every gradient name. Each derivative of a gate is replaced by
    its bound (1/4 for the sigmoid, 1 for tanh), as a rounded gate computes it."""
    xs, h0, c0, dhs = arrays["xs"], arrays["h0"], arrays["c0"], arrays["dhs"]
    fwd = forward(NumpyOps(), Params(**params), xs, h0, c0)
    T, B, H = fwd.hs.shape
    A = {name: np.abs(value) for name, value in params.items()}
    gates = np.abs(fwd.gates)
    i, f, g, o = (gates[..., n * H : (n + 1) * H] for n in range(4))
    c_prev = np.abs(np.concatenate([c0[None], fwd.cs[:-1]]))
    h_prev = np.abs(np.concatenate([h0[None], fwd.hs[:-1]]))
    ah, ac = np.abs(grads["hs"]), np.abs(grads["cs"])
    tc = np.abs(np.tanh(fwd.cs))
    dm = np.concatenate([0.25 * ac * g, 0.25 * ac * c_prev, ac * i, 0.25 * ah * tc], axis=-1)
    terms = assemble(Params(**A), np.abs(xs), np.abs(h0), np.abs(fwd.hs), dm)
    h_terms = np.abs(dhs).copy()
    h_terms[:-1] += dm[1:] @ A["W_h"].T
    c_terms = ah * o if arrays.get("dcs") is None else np.abs(arrays["dcs"]) + ah * o
    c_terms[:-1] += ac[1:] * f[1:]
    terms["hs"] = np.maximum(h_terms, ah)
    terms["cs"] = np.maximum(c_terms, ac)
    terms["c0"] = terms["cs"][0] * f[0]  # dL/dc0 = f_1 * dL/dc_1: the size of its terms
    z = np.abs(xs) @ A["W_x"] + h_prev @ A["W_h"] + A["b"]
    terms["unroll"] = np.abs(fwd.hs) + np.abs(fwd.cs) + z.reshape(T, B, 4, H).sum(2)
    return {name: float(np.max(value, initial=0.0)) for name, value in terms.items()}
