"""Agreement: each backend's error against the float64 NumPy reference, per dtype and
activation, on the ``small`` problem (``rnnbench.tolerances.normwise_error``).

The number is the worst normwise error over the forward states hs and every gradient of
BPTT; the reference runs on the same values upcast to float64. A float32 backend sits
near 1e-7, a float64 one near 1e-16; a jump means a change in how a backend computes.
"""

from __future__ import annotations

import itertools

from rnnbench.activations import ACTIVATIONS
from rnnbench.problems import Problem, make_data
from rnnbench.tolerances import normwise_error

from . import common


def agreement_problem(dtype: str, activation: str) -> Problem:
    """The problem both the backend and the reference run."""
    return Problem(**common.dims("small"), activation=activation, dtype=dtype, seed=0)


def measure_error(backend: str, dtype: str, activation: str) -> float:
    """max normwise error of the backend's hs and gradients against the reference's."""
    problem = agreement_problem(dtype, activation)
    case = common.prepare(backend, problem)
    results = _run(case.backend, case.inputs, activation)
    reference = common.get_backend(common.REFERENCE)
    expected = _run(reference, reference.load(make_data(problem).astype("float64")), activation)
    return max(normwise_error(results[name], expected[name]) for name in expected)


def _run(backend, inputs, activation: str) -> dict:
    """hs and every gradient, as NumPy arrays by name."""
    i = inputs
    hs = backend.unroll(i.params, i.xs, i.h0, activation=activation)
    grads = backend.bptt(i.params, i.xs, i.h0, i.dhs, activation=activation)
    arrays = {"hs": hs, **{f"d{name}": g for name, g in grads.items()}}
    return {name: backend.to_numpy(a) for name, a in arrays.items()}


class Agreement:
    """Error of one backend, dtype and activation against the float64 reference."""

    params = (common.builtin_backends(), list(common.DTYPES), list(ACTIVATIONS))
    param_names = ("backend", "dtype", "activation")
    version = "1"
    timeout = 120.0

    def setup_cache(self) -> dict:
        keys = itertools.product(common.builtin_backends(), common.DTYPES, ACTIVATIONS)
        return common.outcomes(measure_error, keys)

    setup_cache.timeout = 600.0

    def setup(self, errors: dict, backend: str, dtype: str, activation: str) -> None:
        self.error = common.outcome(errors, (backend, dtype, activation))

    def track_error(self, errors, backend, dtype, activation) -> float:
        """max|g - ref| / max|ref| over hs and every gradient."""
        return self.error

    track_error.unit = "normwise error"
