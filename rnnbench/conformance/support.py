"""Shared pieces of the conformance tests: the (cell, activation) cases, capability checks
and running a backend."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.activations import ACTIVATIONS
from rnnbench.cells import get_cell
from rnnbench.interface import Backend, Grads, Inputs
from rnnbench.problems import DTYPES, Problem

from .oracle import problem_data

__all__ = ["ACTIVATIONS", "CASES", "DTYPES", "bptt", "checked_names", "load", "require"]

#: every (cell, activation) pair the properties run on: the elman cell with each
#: activation, the gated cells with their fixed nonlinearities ("tanh")
CASES: tuple[tuple[str, str], ...] = (
    *(("elman", a) for a in ACTIVATIONS),
    ("lstm", "tanh"),
    ("gru", "tanh"),
)
cases = pytest.mark.parametrize(
    ("cell", "activation"), CASES, ids=[f"{c}-{a}" if c == "elman" else c for c, a in CASES]
)


def require(
    backend: Backend,
    *,
    dtype: str | None = None,
    activation: str | None = None,
    truncation: bool = False,
    cell: str = "elman",
    adjoint: str | None = None,
) -> None:
    """Skip, naming the reason, when the backend does not declare what a test needs
    (``adjoint``: "hs" or "cs", an adjoint the test reads)."""
    if cell not in backend.cells:
        pytest.skip(f"{backend.name} does not declare cell {cell}")
    if dtype is not None and dtype not in backend.dtypes:
        pytest.skip(f"{backend.name} does not declare dtype {dtype}")
    if activation is not None and activation not in backend.activations:
        pytest.skip(f"{backend.name} does not declare activation {activation}")
    if truncation and not backend.supports_truncation:
        pytest.skip(f"{backend.name} does not declare truncated BPTT")
    if adjoint is not None and adjoint in backend.missing_adjoints.get(cell, ()):
        pytest.skip(f"{backend.name} declares that it cannot give the {cell} adjoint {adjoint}")


def checked_names(backend: Backend, cell: str) -> tuple[str, ...]:
    """Every ``Grads`` name the backend must return for the cell (all of the cell's, less
    the adjoints it declares missing)."""
    missing = backend.missing_adjoints.get(cell, frozenset())
    return tuple(n for n in get_cell(cell).grad_names if n not in missing)


def load(backend: Backend, problem: Problem) -> Inputs:
    """The problem's seeded data in the backend's native form."""
    return backend.load(problem_data(problem))


def bptt(
    backend: Backend, problem: Problem, truncate: int | None = None, dcs: np.ndarray | None = None
) -> Grads:
    """The backend's gradients for the problem, as NumPy arrays (``dcs``: the LSTM's
    cotangents of c_t, (T, B, H), None for zero)."""
    i = load(backend, problem)
    extra = {} if dcs is None else {"dcs": backend.to_native(dcs)}
    grads = backend.bptt(
        i.params,
        i.xs,
        i.h0,
        i.dhs,
        activation=problem.activation,
        truncate=truncate,
        **i.state0,
        **extra,
    )
    return backend.grads_to_numpy(grads)


BPTT_CALL = "b.bptt(i.params, i.xs, i.h0, i.dhs, activation={a!r}, truncate={k!r}, **i.state0)"
