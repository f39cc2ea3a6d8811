"""The one oracle: the float64 NumPy reference, run on a problem's own (cast) data."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from rnnbench.interface import Grads
from rnnbench.problems import Problem, ProblemData, make_data
from rnnbench.tolerances import error_scales


@lru_cache(maxsize=256)
def problem_data(problem: Problem) -> ProblemData:
    """``make_data(problem)``, cached: every backend of a run sees these same arrays."""
    return make_data(problem)


def _reference_backend():
    from rnnbench_backends.numpy_backend import NumpyBackend

    return NumpyBackend()


@lru_cache(maxsize=256)
def reference_hs(problem: Problem) -> np.ndarray:
    """hs (T, B, H) of the float64 reference on the problem's data (upcast if float32)."""
    ref = _reference_backend()
    inputs = ref.load(problem_data(problem).astype("float64"))
    return ref.unroll(inputs.params, inputs.xs, inputs.h0, activation=problem.activation)


@lru_cache(maxsize=256)
def reference_grads(problem: Problem, truncate: int | None = None) -> Grads[np.ndarray]:
    """Every gradient of the float64 reference on the problem's data."""
    ref = _reference_backend()
    i = ref.load(problem_data(problem).astype("float64"))
    return ref.bptt(i.params, i.xs, i.h0, i.dhs, activation=problem.activation, truncate=truncate)


@lru_cache(maxsize=256)
def reference_scales(problem: Problem, truncate: int | None = None) -> dict[str, float]:
    """The error scale of every reference result (``tolerances.error_scales``)."""
    data = problem_data(problem).astype("float64")
    return error_scales(data, reference_hs(problem), reference_grads(problem, truncate))
