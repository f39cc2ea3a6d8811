"""Each backend's gradients against central finite differences of its own forward, float64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnbench.interface import Params
from rnnbench.problems import ARRAY_NAMES, make_data

from .assertions import reproduction
from .strategies import problems
from .support import ACTIVATIONS, BPTT_CALL, bptt, require

#: step of the central difference and the allowed error, relative to ||g|| ||v||
STEP = 1e-6
RTOL = 1e-6
ARGUMENTS = ("W_xh", "W_hh", "b", "h0", "xs")


def loss(backend, arrays: dict[str, np.ndarray], activation: str) -> float:
    """L = sum_t <dhs_t, h_t>, computed with the backend's unroll."""
    n = backend.to_native
    params = Params(n(arrays["W_xh"]), n(arrays["W_hh"]), n(arrays["b"]))
    hs = backend.to_numpy(
        backend.unroll(params, n(arrays["xs"]), n(arrays["h0"]), activation=activation)
    )
    return float(np.sum(arrays["dhs"] * hs))


def rounding_error(backend, arrays: dict[str, np.ndarray], activation: str) -> float:
    """What rounding alone can contribute to the central difference: the loss is a sum of
    terms dhs * h computed to a few ulps each, and the difference divides by 2 * STEP."""
    n = backend.to_native
    params = Params(n(arrays["W_xh"]), n(arrays["W_hh"]), n(arrays["b"]))
    hs = backend.to_numpy(
        backend.unroll(params, n(arrays["xs"]), n(arrays["h0"]), activation=activation)
    )
    magnitude = float(np.sum(np.abs(arrays["dhs"] * hs)))
    return 16 * np.finfo(np.float64).eps * magnitude / (2 * STEP)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(data=st.data())
def test_gradients_match_central_differences(rnnbench_backend, activation, data):
    require(rnnbench_backend, dtype="float64", activation=activation)
    problem = data.draw(problems(dtype="float64", activation=activation), label="problem")
    arrays = {name: getattr(make_data(problem), name) for name in ARRAY_NAMES}
    grads = bptt(rnnbench_backend, problem)
    rng = np.random.default_rng(problem.seed)
    rounding = rounding_error(rnnbench_backend, arrays, activation)
    for name in ARGUMENTS:
        direction = rng.standard_normal(arrays[name].shape)
        plus = {**arrays, name: arrays[name] + STEP * direction}
        minus = {**arrays, name: arrays[name] - STEP * direction}
        numeric = (
            loss(rnnbench_backend, plus, activation) - loss(rnnbench_backend, minus, activation)
        ) / (2 * STEP)
        gradient = getattr(grads, name)
        analytic = float(np.sum(gradient * direction))
        scale = max(np.linalg.norm(gradient) * np.linalg.norm(direction), 1e-300)
        error = abs(numeric - analytic) / scale
        allowed = RTOL + rounding / scale
        assert error <= allowed, (
            f"dL/d{name} along a random direction: analytic {analytic!r}, central difference "
            f"{numeric!r} (error {error:.2e} relative to ||g|| ||v||, allowed {allowed:.1e})\n"
            + reproduction(rnnbench_backend, problem, BPTT_CALL.format(a=activation, k=None))
        )
