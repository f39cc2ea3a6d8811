"""Shared pieces of the conformance tests: capability checks and running a backend."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields

import pytest

from rnnbench.activations import ACTIVATIONS
from rnnbench.interface import Backend, Grads, Inputs
from rnnbench.problems import DTYPES, Problem

from .oracle import problem_data

__all__ = ["ACTIVATIONS", "DTYPES", "GRADIENTS", "bptt", "checked", "load", "require"]

#: the names of the gradients ``bptt`` returns, in ``Grads`` order
GRADIENTS: tuple[str, ...] = tuple(f.name for f in fields(Grads))


def require(
    backend: Backend,
    *,
    dtype: str | None = None,
    activation: str | None = None,
    truncation: bool = False,
    adjoints: bool = False,
) -> None:
    """Skip, naming the reason, when the backend does not declare what a test needs."""
    if dtype is not None and dtype not in backend.dtypes:
        pytest.skip(f"{backend.name} does not declare dtype {dtype}")
    if activation is not None and activation not in backend.activations:
        pytest.skip(f"{backend.name} does not declare activation {activation}")
    if truncation and not backend.supports_truncation:
        pytest.skip(f"{backend.name} does not declare truncated BPTT")
    if adjoints and not backend.provides_adjoints:
        pytest.skip(f"{backend.name} declares no per-step adjoints (provides_adjoints = False)")


def checked(backend: Backend, names: Iterable[str]) -> list[str]:
    """The gradient names among ``names`` the backend is held to: all of them, less the
    per-step adjoints ``hs`` when it declares ``provides_adjoints = False``."""
    return [name for name in names if name != "hs" or backend.provides_adjoints]


def load(backend: Backend, problem: Problem) -> Inputs:
    """The problem's seeded data in the backend's native form."""
    return backend.load(problem_data(problem))


def bptt(backend: Backend, problem: Problem, truncate: int | None = None) -> Grads:
    """The backend's gradients for the problem, as NumPy arrays."""
    i = load(backend, problem)
    grads = backend.bptt(
        i.params, i.xs, i.h0, i.dhs, activation=problem.activation, truncate=truncate
    )
    return backend.grads_to_numpy(grads)


BPTT_CALL = "b.bptt(i.params, i.xs, i.h0, i.dhs, activation={a!r}, truncate={k!r})"
