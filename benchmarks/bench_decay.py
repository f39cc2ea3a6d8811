"""Gradient decay: the curve ``ratio[k] = ||dL/dh_(T-k)|| / ||dL/dh_T||`` of every backend
(``rnnbench.decay``), on W_hh = alpha * Q (Q random orthogonal) with the loss on the last
step only, in float64.

For the identity activation the exact curve is alpha**k, so these numbers tell a change
in a backend's BPTT apart from noise: they move only when the gradients do. ``DecayRate``
also tracks each cell's rate (the gated cells with tanh only, their forget/update gate
bias offset by ``GATE_BIAS``; they skip on commits from before cells existed). One
``setup_cache`` measures every curve in one process; each case only reads its number.
"""

from __future__ import annotations

import itertools

from rnnbench.decay import DecayCurve, decay_curve, fitted_rate
from rnnbench.problems import Problem

from . import common

#: T stays 50 in tiny mode, so that every distance k exists
DECAY_SIZE = {"T": 50, "B": 8, "D": 32, "H": 64}
DECAY_TINY = {"T": 50, "B": 2, "D": 4, "H": 8}
ACTIVATIONS = ("tanh", "identity")
ALPHAS = (0.9, 1.0, 1.1)
DISTANCES = (10, 40)
GATE_BIAS = 1.0


def decay_problem(activation: str, alpha: float, cell: str = "elman") -> Problem:
    """The float64 problem whose curve is measured."""
    if cell != "elman" and activation != "tanh":
        raise NotImplementedError(f"the {cell} cell has its own nonlinearities (tanh only)")
    size = DECAY_TINY if common.tiny() else DECAY_SIZE
    fields = dict(
        size,
        activation=activation,
        dtype="float64",
        seed=0,
        init="orthogonal",
        alpha=alpha,
        cotangent="last",
    )
    if cell != "elman":
        fields["gate_bias"] = GATE_BIAS
    return common.problem(cell, **fields)


def measure_curve(backend: str, activation: str, alpha: float, cell: str = "elman") -> DecayCurve:
    """The DecayCurve of one backend, from the adjoints ``Grads.hs`` of one BPTT."""
    case = common.prepare(backend, decay_problem(activation, alpha, cell))
    grads = case.bptt()
    if "hs" not in grads:  # a fused kernel that declares dL/dh missing
        raise NotImplementedError(f"backend {backend!r} gives no dL/dh for the {cell} cell")
    return decay_curve(case.backend.to_numpy(grads.hs))


class _Decay:
    """Shared ``setup_cache`` (asv runs it once for both classes below)."""

    version = "1"
    timeout = 120.0

    def setup_cache(self) -> dict:
        keys = itertools.product(common.builtin_backends(), ACTIVATIONS, ALPHAS, common.CELLS)
        return common.outcomes(measure_curve, keys)

    setup_cache.timeout = 600.0


class DecayRatio(_Decay):
    """ratio[k] of one backend's curve, for a few activations, alphas and distances k."""

    params = (common.builtin_backends(), list(ACTIVATIONS), list(ALPHAS), list(DISTANCES))
    param_names = ("backend", "activation", "alpha", "k")

    def setup(self, curves: dict, backend: str, activation: str, alpha: float, k: int) -> None:
        self.curve = common.outcome(curves, (backend, activation, alpha, "elman"))

    def track_ratio(self, curves, backend, activation, alpha, k) -> float:
        """||dL/dh_(T-k)|| / ||dL/dh_T|| (alpha**k for the identity activation)."""
        return float(self.curve.ratios[k])

    track_ratio.unit = "ratio"


class DecayRate(_Decay):
    """The per-step factor r of the least-squares fit ratio[k] = r**k, per cell."""

    version = "2"

    params = (common.builtin_backends(), list(ACTIVATIONS), list(ALPHAS), list(common.CELLS))
    param_names = ("backend", "activation", "alpha", "cell")

    def setup(self, curves: dict, backend: str, activation: str, alpha: float, cell: str) -> None:
        self.curve = common.outcome(curves, (backend, activation, alpha, cell))

    def track_fitted_rate(self, curves, backend, activation, alpha, cell) -> float:
        """``rnnbench.decay.fitted_rate``: < 1 vanishing, > 1 exploding."""
        return fitted_rate(self.curve)

    track_fitted_rate.unit = "factor per step"
