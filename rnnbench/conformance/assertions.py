"""Assertion helpers whose failure message carries the reproduction."""

from __future__ import annotations

import numpy as np

from rnnbench.interface import Backend
from rnnbench.problems import Problem
from rnnbench.tolerances import normwise_error, tolerance
from rnnbench.validation import dtype_name


def reproduction(backend: Backend, problem: Problem, call: str) -> str:
    """A snippet that rebuilds the failing case."""
    return (
        f"  backend={backend.name!r} device={backend.device!r}\n"
        f"  {problem!r}\n"
        "  reproduce:\n"
        f"    b = rnnbench.get_backend({backend.name!r}, device={backend.device!r})\n"
        f"    i = b.load(rnnbench.make_data(rnnbench.{problem!r}))\n"
        f"    {call}"
    )


def assert_close(
    backend: Backend,
    problem: Problem,
    what: str,
    value,
    reference: np.ndarray,
    *,
    call: str,
    scale: float | None = None,
    tol: float | None = None,
) -> None:
    """Fail unless ``value`` (native) has the reference's shape, the problem's dtype, and a
    normwise error (relative to ``scale``, see ``tolerances``) within ``tol`` (default: the
    tolerance rule for the problem's dtype and T)."""
    if value is None:
        raise AssertionError(
            f"{what}: the backend returned None (an adjoint a backend cannot give is declared "
            "in missing_adjoints and left out of Grads)\n" + reproduction(backend, problem, call)
        )
    got_dtype = dtype_name(value)
    array = backend.to_numpy(value)
    if tol is None:
        tol = tolerance(problem.dtype, problem.T)
    error = normwise_error(array, reference, scale)
    problems = []
    if tuple(array.shape) != tuple(reference.shape):
        problems.append(f"shape {tuple(array.shape)} != expected {tuple(reference.shape)}")
    if got_dtype != problem.dtype:
        problems.append(f"dtype {got_dtype} != expected {problem.dtype}")
    if not error <= tol:
        problems.append(f"normwise error {error:.3e} > tolerance {tol:.3e}")
    if problems:
        raise AssertionError(
            f"{what}: " + "; ".join(problems) + "\n" + reproduction(backend, problem, call)
        )
