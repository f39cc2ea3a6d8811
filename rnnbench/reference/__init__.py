"""The float64 oracle every backend is held to: the hand-written algorithm of ``elman`` on
NumPy arrays (``ops.NumpyOps``), run on a problem's data upcast to float64.

It lives in the core and imports NumPy only; the "numpy" backend of the registry is a thin
adapter over ``backend.ReferenceBackend``.

Truncated BPTT, window k (``truncate=k``), means the same for every backend: the gradient
of loss term s flows back through cells s, s-1, ..., s-k+1 only. The adjoint hs[t] (0-based,
hs[t] = h_{t+1}) then sums the terms s with 0 <= s - t < k, and dL/dh0 collects the terms
that pass through the first cell (s < k). ``k >= T`` (or ``None``) is full BPTT.
``elman.bptt_truncated`` computes it by hand.

Truncation by streams, how a backend that differentiates with autograd gets the same
numbers (the torch and JAX backends do): autograd differentiates what was computed, so the
backend recomputes. Stream s, one per loss term, re-runs the k cells s-k+1..s, starting
from the forward state before cell s-k+1 held constant (detached, a constant of the VJP),
or from h0 (not held constant) when s < k; the leading steps of a stream with s < k, cells
that do not exist, are masked with ``where`` so its state stays h0. The T streams run
batched as one (T, B, H) state for k steps. The loss is sum_s <dhs_s, final state of stream
s>: its gradient sums, for every cell, over exactly the streams that run that cell, which is
the truncated sum, so the deltas and every gradient follow (dW_hh too: its left factor, the
state entering a cell, is the same forward value in every stream). The zero perturbation
eps_t of the per-step adjoints is gathered onto the states each stream produces, so
dL/d eps_t sums the terms s with 0 <= s - t < k. Cost and memory: O(k T B H) on top of the
forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbench import validation
from rnnbench.interface import Backend, Grads
from rnnbench.problems import ProblemData
from rnnbench.reference import algorithms, gru, lstm
from rnnbench.reference.backend import ReferenceBackend
from rnnbench.tolerances import error_scales

__all__ = [
    "ReferenceBackend",
    "ReferenceOutputs",
    "reference_backend",
    "reference_grads",
    "reference_hs",
    "reference_outputs",
    "reference_scales",
    "reference_states",
]


@dataclass(frozen=True)
class ReferenceOutputs:
    """The float64 reference on one problem: forward states hs (T, B, H) (and cs for the
    LSTM), every gradient, and the error scale of each result ("unroll" and every ``Grads``
    name; see ``reference_scales``)."""

    hs: np.ndarray
    grads: Grads[np.ndarray]
    scales: dict[str, float]
    cs: np.ndarray | None = None

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        """Every result by quantity: "unroll" (hs), then the ``Grads`` names."""
        return {"unroll": self.hs, **dict(self.grads.items())}


def reference_backend() -> Backend[np.ndarray]:
    """The oracle as a Backend (not whatever is registered under "numpy")."""
    return ReferenceBackend()


def reference_states(data: ProblemData) -> dict[str, np.ndarray]:
    """{"hs"} (and "cs" for the LSTM), (T, B, H) each, float64: the reference's forward
    states on ``data`` upcast."""
    ref = ReferenceBackend()
    i = ref.load(data.astype("float64"))
    return ref.states(i.params, i.xs, i.h0, activation=data.problem.activation, **i.state0)


def reference_hs(data: ProblemData) -> np.ndarray:
    """hs (T, B, H), float64: the reference's forward states on ``data`` upcast."""
    return reference_states(data)["hs"]


def reference_grads(data: ProblemData, truncate: int | None = None) -> Grads[np.ndarray]:
    """Every gradient of the reference on ``data`` upcast, float64 (names and shapes as
    ``Grads``; elman: W_xh (D, H), W_hh (H, H), b (H,), h0 (B, H), xs (T, B, D) and the
    adjoints hs (T, B, H))."""
    ref = ReferenceBackend()
    i = ref.load(data.astype("float64"))
    return ref.bptt(
        i.params,
        i.xs,
        i.h0,
        i.dhs,
        activation=data.problem.activation,
        truncate=truncate,
        **i.state0,
    )


def reference_scales(
    data: ProblemData, hs: np.ndarray, grads: Grads[np.ndarray]
) -> dict[str, float]:
    """The error scale of every reference result on ``data`` upcast, from its ``hs``
    (T, B, H) and ``grads``: "unroll" and every Grads name. Elman: ``tolerances.error_scales``;
    a gated cell: its module's ``error_scales`` (the same rule, with its own terms)."""
    data64 = data.astype("float64")
    cell = data.problem.cell
    if cell == "elman":
        return error_scales(data64, hs, grads)
    module = lstm if cell == "lstm" else gru
    return module.error_scales(data64.params, data64.arrays(), dict(grads.items()))


def reference_outputs(data: ProblemData, truncate: int | None = None) -> ReferenceOutputs:
    """hs, every gradient and their error scales on ``data`` upcast: what ``reference_hs``,
    ``reference_grads`` and ``reference_scales`` give, with one conversion."""
    data64 = data.astype("float64")
    ref = ReferenceBackend()
    i = ref.load(data64)
    activation = data.problem.activation
    validation.check_truncate(ref, truncate)
    states = ref.states(i.params, i.xs, i.h0, activation=activation, **i.state0)
    grads = Grads(
        **algorithms.gradients(
            ref.ops, i.params, i.xs, i.h0, i.dhs, activation, truncate, **i.state0
        )
    )
    scales = reference_scales(data64, states["hs"], grads)
    return ReferenceOutputs(states["hs"], grads, scales, states.get("cs"))
