"""Deliberately broken backends: the conformance suite must catch each one."""

from __future__ import annotations

import numpy as np

from rnnbench.reference import ReferenceBackend


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
