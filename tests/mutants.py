"""Deliberately broken backends: the conformance suite must catch each one."""

from __future__ import annotations

import numpy as np

from rnnbench.interface import Grads
from rnnbench.reference import ReferenceBackend, lstm


class SignFlipBackend(ReferenceBackend):
    """dL/dW_hh with the wrong sign."""

    name = "mutant-sign-flip"

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        g = super()._bptt(params, xs, h0, dhs, activation, truncate)
        return g.replace(W_hh=-g.W_hh)


class OffByOneBackend(ReferenceBackend):
    """Per-step adjoints reported one time step late (hs[t] holds dL/dh_(t-1))."""

    name = "mutant-off-by-one"

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        g = super()._bptt(params, xs, h0, dhs, activation, truncate)
        shifted = np.concatenate([g.h0[None], g.hs[:-1]])
        return g.replace(hs=shifted)


class DroppedBiasBackend(ReferenceBackend):
    """Forgets the bias gradient."""

    name = "mutant-dropped-bias"

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        g = super()._bptt(params, xs, h0, dhs, activation, truncate)
        return g.replace(b=np.zeros_like(g.b))


class LeakyTruncationBackend(ReferenceBackend):
    """A truncation window that lets the gradient flow one step too far."""

    name = "mutant-leaky-truncation"

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        leaky = None if truncate is None else truncate + 1
        return super()._bptt(params, xs, h0, dhs, activation, leaky)


class Float32DowncastBackend(ReferenceBackend):
    """Computes float64 runs in float32 and casts the results back."""

    name = "mutant-float32-downcast"

    def _unroll(self, params, xs, h0, activation):
        p32 = type(params)(*(a.astype(np.float32) for a in (params.W_xh, params.W_hh, params.b)))
        return (
            super()
            ._unroll(p32, xs.astype(np.float32), h0.astype(np.float32), activation)
            .astype(xs.dtype)
        )

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        p32 = type(params)(*(a.astype(np.float32) for a in (params.W_xh, params.W_hh, params.b)))
        g = super()._bptt(
            p32,
            xs.astype(np.float32),
            h0.astype(np.float32),
            dhs.astype(np.float32),
            activation,
            truncate,
        )
        return type(g)(**{name: value.astype(xs.dtype) for name, value in g.items()})


def _swap_blocks(array, H: int):
    """The first two H-wide blocks of the last axis exchanged (LSTM: i, f; GRU: r, z)."""
    out = array.copy()
    out[..., :H], out[..., H : 2 * H] = array[..., H : 2 * H], array[..., :H]
    return out


class SwappedGateOrderBackend(ReferenceBackend):
    """An LSTM that reads its weights in the gate order f, i, g, o instead of i, f, g, o
    (consistent with itself: forward and gradients agree, the layout is wrong)."""

    name = "mutant-swapped-gate-order"
    swapped_cell = "lstm"

    def _swapped(self, params):
        if params.cell.name != self.swapped_cell:
            return params, lambda g: g
        H = params.W_h.shape[0]
        names = tuple(params)  # every parameter of a gated cell has the G*H axis last
        swapped = params.replace(**{k: _swap_blocks(params[k], H) for k in names})
        return swapped, lambda g: g.replace(**{k: _swap_blocks(g[k], H) for k in names})

    def _states(self, params, xs, h0, activation, **state0):
        return super()._states(self._swapped(params)[0], xs, h0, activation, **state0)

    def _bptt(self, params, xs, h0, dhs, activation, truncate, **state):
        swapped, back = self._swapped(params)
        return back(super()._bptt(swapped, xs, h0, dhs, activation, truncate, **state))


class SwappedGruGatesBackend(SwappedGateOrderBackend):
    """A GRU that reads its weights in the gate order z, r, n instead of r, z, n."""

    name = "mutant-swapped-gru-gates"
    swapped_cell = "gru"


class DroppedForgetGateGradientBackend(ReferenceBackend):
    """An LSTM whose forget-gate rows of dW_x, dW_h and db are left at zero."""

    name = "mutant-dropped-forget-gradient"

    def _bptt(self, params, xs, h0, dhs, activation, truncate, **state):
        g = super()._bptt(params, xs, h0, dhs, activation, truncate, **state)
        if params.cell.name != "lstm":
            return g
        H = params.W_h.shape[0]
        dropped = {}
        for name in ("W_x", "W_h", "b"):
            dropped[name] = g[name].copy()
            dropped[name][..., H : 2 * H] = 0
        return g.replace(**dropped)


class ResetBeforeProductBackend(ReferenceBackend):
    """A GRU whose forward applies the reset before the recurrent product,
    n = tanh(x W_xn + b_xn + (r*h) W_hn + b_hn), with the reference's gradients."""

    name = "mutant-reset-before-product"

    def _states(self, params, xs, h0, activation, **state0):
        if params.cell.name != "gru":
            return super()._states(params, xs, h0, activation, **state0)
        H = h0.shape[-1]
        W_h, b_h = params.W_h, params.b_h
        hs, h = [], h0
        for x_t in xs:
            gx = x_t @ params.W_x + params.b_x
            gh = h @ W_h[:, : 2 * H] + b_h[: 2 * H]
            r = 1 / (1 + np.exp(-(gx[:, :H] + gh[:, :H])))
            z = 1 / (1 + np.exp(-(gx[:, H : 2 * H] + gh[:, H:])))
            n = np.tanh(gx[:, 2 * H :] + (r * h) @ W_h[:, 2 * H :] + b_h[2 * H :])
            h = n + z * (h - n)
            hs.append(h)
        return {"hs": np.stack(hs)}


class MissingCellCarryBackend(ReferenceBackend):
    """An LSTM whose backward drops the carry dL/dc_t * f_t into dL/dc_{t-1} (full BPTT,
    whatever the window)."""

    name = "mutant-missing-c-carry"

    def _bptt(self, params, xs, h0, dhs, activation, truncate, **state):
        if params.cell.name != "lstm":
            return super()._bptt(params, xs, h0, dhs, activation, truncate, **state)
        c0, dcs = state["c0"], state.get("dcs")
        fwd = lstm.forward(self.ops, params, xs, h0, c0)
        T, B, H = fwd.hs.shape
        adj_h, adj_c = np.empty((T, B, H)), np.empty((T, B, H))
        deltas = np.empty((T, B, 4 * H))
        carry_h = np.zeros((B, H))
        for t in range(T - 1, -1, -1):
            tc = np.tanh(fwd.cs[t])
            adj_h[t] = dhs[t] + carry_h
            adj_c[t] = adj_h[t] * fwd.gates[t][:, 3 * H :] * (1 - tc * tc)
            if dcs is not None:
                adj_c[t] += dcs[t]
            c_prev = fwd.cs[t - 1] if t else c0
            deltas[t] = lstm._gate_deltas(self.ops, adj_h[t], adj_c[t], fwd.gates[t], c_prev, tc)
            carry_h = deltas[t] @ params.W_h.T
        grads = lstm.assemble(params, xs, h0, fwd.hs, deltas.astype(xs.dtype))
        grads["c0"] = adj_c[0] * fwd.gates[0][:, H : 2 * H]
        return Grads(**grads, hs=adj_h.astype(xs.dtype), cs=adj_c.astype(xs.dtype))
