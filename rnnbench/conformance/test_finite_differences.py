"""Each backend's gradients against central finite differences of its own forward, float64,
on every cell it declares: every parameter, h0, c0 (LSTM) and xs."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rnnbench.interface import Params
from rnnbench.problems import make_data

from .assertions import reproduction
from .strategies import problems
from .support import BPTT_CALL, bptt, cases, require

#: step of the central difference and the allowed error, relative to ||g|| ||v||
STEP = 1e-6
RTOL = 1e-6


def hidden_states(backend, arrays: dict[str, np.ndarray], activation: str) -> np.ndarray:
    """hs (T, B, H) from the backend's unroll on ``arrays`` (parameters, xs, h0, c0)."""
    n = backend.to_native
    names = [k for k in arrays if k not in ("xs", "h0", "c0", "dhs")]
    params = Params(**{k: n(arrays[k]) for k in names})
    state0 = {"c0": n(arrays["c0"])} if "c0" in arrays else {}
    hs = backend.unroll(params, n(arrays["xs"]), n(arrays["h0"]), activation=activation, **state0)
    return backend.to_numpy(hs)


def loss(backend, arrays: dict[str, np.ndarray], activation: str) -> float:
    """L = sum_t <dhs_t, h_t>, computed with the backend's unroll."""
    return float(np.sum(arrays["dhs"] * hidden_states(backend, arrays, activation)))


def rounding_error(backend, arrays: dict[str, np.ndarray], activation: str) -> float:
    """What rounding alone can contribute to the central difference: the loss is a sum of
    terms dhs * h computed to a few ulps each, and the difference divides by 2 * STEP."""
    magnitude = float(np.sum(np.abs(arrays["dhs"] * hidden_states(backend, arrays, activation))))
    return 16 * np.finfo(np.float64).eps * magnitude / (2 * STEP)


@cases
@given(data=st.data())
def test_gradients_match_central_differences(rnnbench_backend, cell, activation, data):
    require(rnnbench_backend, dtype="float64", activation=activation, cell=cell)
    problem = data.draw(
        problems(dtype="float64", activation=activation, cell=cell), label="problem"
    )
    arrays = make_data(problem).arrays()
    grads = bptt(rnnbench_backend, problem)
    rng = np.random.default_rng(problem.seed)
    rounding = rounding_error(rnnbench_backend, arrays, activation)
    for name in [k for k in arrays if k != "dhs"]:
        direction = rng.standard_normal(arrays[name].shape)
        plus = {**arrays, name: arrays[name] + STEP * direction}
        minus = {**arrays, name: arrays[name] - STEP * direction}
        numeric = (
            loss(rnnbench_backend, plus, activation) - loss(rnnbench_backend, minus, activation)
        ) / (2 * STEP)
        gradient = grads[name]
        analytic = float(np.sum(gradient * direction))
        scale = max(np.linalg.norm(gradient) * np.linalg.norm(direction), 1e-300)
        error = abs(numeric - analytic) / scale
        allowed = RTOL + rounding / scale
        assert error <= allowed, (
            f"dL/d{name} along a random direction: analytic {analytic!r}, central difference "
            f"{numeric!r} (error {error:.2e} relative to ||g|| ||v||, allowed {allowed:.1e})\n"
            + reproduction(rnnbench_backend, problem, BPTT_CALL.format(a=activation, k=None))
        )
