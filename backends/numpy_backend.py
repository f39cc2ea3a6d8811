"""The "numpy" backend: the float64 oracle of the core (``rnnbench.reference``), registered
like any other backend. It runs in float32 too, with the same hand-written algorithm."""

from __future__ import annotations

from rnnbench.reference.backend import ReferenceBackend


class NumpyBackend(ReferenceBackend):
    """Hand-written BPTT in NumPy (``rnnbench.reference.elman``); in float64 the oracle."""

    name = "numpy"
