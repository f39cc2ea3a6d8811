"""The one oracle, cached per problem: ``rnnbench.reference`` on the problem's own data."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from rnnbench import reference
from rnnbench.interface import Grads
from rnnbench.problems import Problem, ProblemData, make_data


@lru_cache(maxsize=256)
def problem_data(problem: Problem) -> ProblemData:
    """``make_data(problem)``, cached: every backend of a run sees these same arrays."""
    return make_data(problem)


@lru_cache(maxsize=256)
def reference_states(problem: Problem) -> dict[str, np.ndarray]:
    """{"hs"} (and "cs" for the LSTM), (T, B, H) each, of the float64 reference on the
    problem's data (upcast if float32)."""
    return reference.reference_states(problem_data(problem))


def reference_hs(problem: Problem) -> np.ndarray:
    """hs (T, B, H) of the float64 reference on the problem's data (upcast if float32)."""
    return reference_states(problem)["hs"]


@lru_cache(maxsize=256)
def reference_grads(problem: Problem, truncate: int | None = None) -> Grads[np.ndarray]:
    """Every gradient of the float64 reference on the problem's data."""
    return reference.reference_grads(problem_data(problem), truncate)


@lru_cache(maxsize=256)
def reference_scales(problem: Problem, truncate: int | None = None) -> dict[str, float]:
    """The error scale of every reference result (``tolerances.error_scales``)."""
    return reference.reference_scales(
        problem_data(problem), reference_hs(problem), reference_grads(problem, truncate)
    )
