"""Properties of the gated cells that hold independently of the reference: one step is
plain backprop through the gates, and the exact decay laws of the gates.

* LSTM with W_x = 0 and W_h = 0: every gate is a constant of its bias, and the only way
  back from c_t is the carousel, so dL/dc_{T-k} = f^k dL/dc_T exactly, f = sigmoid(b_f),
  unit by unit (cotangent on h_T only).
* GRU with W_h = 0 and the update gate's input weights 0: z = sigmoid(b_xz + b_hz) is
  constant, n and r do not depend on h_{t-1}, so dL/dh_{T-k} = z^k dL/dh_T exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnbench.errors import UnsupportedError
from rnnbench.interface import Params
from rnnbench.problems import Problem, make_data
from rnnbench.reference import ReferenceBackend, lstm
from rnnbench.tolerances import normwise_error, tolerance

from .assertions import reproduction
from .oracle import reference_scales
from .strategies import problems
from .support import BPTT_CALL, DTYPES, bptt, checked_names, require

#: the exact-decay laws are held to 1e-12 relative in float64
EXACT_RTOL = {"float64": 1e-12}


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def one_lstm_step(d) -> dict[str, np.ndarray]:
    """Backprop through one LSTM cell in float64, derivatives from the pre-activations."""
    d = d.astype("float64")
    x, h0, c0, dh = d.xs[0], d.h0, d.c0, d.dhs[0]
    a = x @ d.W_x + h0 @ d.W_h + d.b
    ai, af, ag, ao = np.split(a, 4, axis=1)
    i, f, g, o = sigmoid(ai), sigmoid(af), np.tanh(ag), sigmoid(ao)
    c = f * c0 + i * g
    dc = dh * o / np.cosh(c) ** 2
    da = np.concatenate(
        [
            dc * g * np.exp(-ai) * i**2,
            dc * c0 * np.exp(-af) * f**2,
            dc * i / np.cosh(ag) ** 2,
            dh * np.tanh(c) * np.exp(-ao) * o**2,
        ],
        axis=1,
    )
    return {
        "W_x": x.T @ da,
        "W_h": h0.T @ da,
        "b": da.sum(0),
        "h0": da @ d.W_h.T,
        "c0": dc * f,
        "xs": (da @ d.W_x.T)[None],
        "hs": dh[None],
        "cs": dc[None],
    }


def one_gru_step(d) -> dict[str, np.ndarray]:
    """Backprop through one GRU cell in float64, derivatives from the pre-activations."""
    d = d.astype("float64")
    x, h0, dh = d.xs[0], d.h0, d.dhs[0]
    xr, xz, xn = np.split(x @ d.W_x + d.b_x, 3, axis=1)
    hr, hz, hn = np.split(h0 @ d.W_h + d.b_h, 3, axis=1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    an = xn + r * hn
    n = np.tanh(an)
    dan = dh * (1 - z) / np.cosh(an) ** 2
    dar = dan * hn * np.exp(-(xr + hr)) * r**2
    daz = dh * (h0 - n) * np.exp(-(xz + hz)) * z**2
    dx = np.concatenate([dar, daz, dan], axis=1)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)
    return {
        "W_x": x.T @ dx,
        "W_h": h0.T @ dgh,
        "b_x": dx.sum(0),
        "b_h": dgh.sum(0),
        "h0": dgh @ d.W_h.T + dh * z,
        "xs": (dx @ d.W_x.T)[None],
        "hs": dh[None],
    }


ONE_STEP = {"lstm": one_lstm_step, "gru": one_gru_step}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", sorted(ONE_STEP))
@given(data=st.data())
def test_single_step_bptt_is_plain_backprop_through_the_gates(rnnbench_backend, dtype, cell, data):
    require(rnnbench_backend, dtype=dtype, activation="tanh", cell=cell)
    problem = data.draw(
        problems(dtype=dtype, activation="tanh", max_T=1, cell=cell), label="problem"
    )
    got = bptt(rnnbench_backend, problem)
    expected = ONE_STEP[cell](make_data(problem))
    tol = tolerance(dtype, 1)
    for name in checked_names(rnnbench_backend, cell):
        error = normwise_error(got[name], expected[name], reference_scales(problem)[name])
        assert error <= tol, (
            f"T=1 dL/d{name}: normwise error {error:.3e} > {tol:.3e}\n"
            + reproduction(rnnbench_backend, problem, BPTT_CALL.format(a="tanh", k=None))
        )


def check_gate_decay(backend, cell: str, dtype: str, T: int, seed: int) -> None:
    """Run the cell with the weights of the module docstring zeroed and check the law."""
    problem = Problem(T=T, B=2, D=3, H=4, cell=cell, dtype=dtype, seed=seed, cotangent="last")
    d = make_data(problem)
    H = problem.H
    params = dict(d.params)
    params["W_h"] = np.zeros_like(d.W_h)
    if cell == "lstm":
        params["W_x"] = np.zeros_like(d.W_x)
        rate = sigmoid(d.b[H : 2 * H].astype(np.float64))
        adjoint = "cs"
    else:
        params["W_x"] = d.W_x.copy()
        params["W_x"][:, H : 2 * H] = 0
        rate = sigmoid(d.b_x[H : 2 * H].astype(np.float64) + d.b_h[H : 2 * H])
        adjoint = "hs"
    require(backend, dtype=dtype, cell=cell, adjoint=adjoint)
    n = backend.to_native
    state0 = {} if d.c0 is None else {"c0": n(d.c0)}
    grads = backend.bptt(
        Params(**{k: n(v) for k, v in params.items()}),
        n(d.xs),
        n(d.h0),
        n(d.dhs),
        activation="tanh",
        **state0,
    )
    got = backend.to_numpy(grads[adjoint]).astype(np.float64)
    k = np.arange(T)[::-1, None, None]  # adjoint[t] is k = T - 1 - t steps back
    expected = got[-1] * rate**k
    rtol = EXACT_RTOL.get(dtype, tolerance(dtype, T))
    rel = np.max(np.abs(got - expected) / np.abs(expected))
    assert rel <= rtol, (
        f"{cell}: dL/d{adjoint[0]}_(T-k) is not gate^k * dL/d{adjoint[0]}_T (worst relative "
        f"error {rel:.3e} > {rtol:.1e}; gate values {rate.tolist()})\n"
        + reproduction(backend, problem, "(weights zeroed as in rnnbench.conformance.test_gates)")
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@given(seed=st.integers(0, 2**32 - 1), T=st.sampled_from([2, 5, 12]))
def test_gate_decay_is_exactly_a_power_of_the_gate(rnnbench_backend, dtype, cell, seed, T):
    require(rnnbench_backend, dtype=dtype, cell=cell)
    check_gate_decay(rnnbench_backend, cell, dtype, T, seed)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gate_decay_over_a_long_sequence(rnnbench_backend, cell):
    """120 steps in float64: the carousel (LSTM) and the update gate (GRU) decay as a
    power law of the gate, with nothing else in the way."""
    require(rnnbench_backend, dtype="float64", cell=cell)
    check_gate_decay(rnnbench_backend, cell, "float64", 120, seed=3)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_lstm_cotangents_on_every_cell_state_reach_every_gradient(rnnbench_backend, dtype, data):
    """A loss on c_t at every step (``dcs``), not only through h: every gradient and adjoint
    agrees with the reference given the same ``dcs`` (the kit's other properties put a c
    cotangent at most at the last step)."""
    require(rnnbench_backend, dtype=dtype, cell="lstm")
    problem = data.draw(problems(dtype=dtype, activation="tanh", cell="lstm"), label="problem")
    seed = data.draw(st.integers(0, 2**32 - 1), label="dcs seed")
    d = make_data(problem)
    dcs = np.random.default_rng(seed).standard_normal(d.dhs.shape).astype(dtype)
    try:
        got = bptt(rnnbench_backend, problem, dcs=dcs)
    except UnsupportedError as exc:  # a fused kernel that takes c's cotangent at T only
        pytest.skip(str(exc))
    reference = ReferenceBackend()
    i = reference.load(d.astype("float64"))
    expected = reference.bptt(
        i.params, i.xs, i.h0, i.dhs, activation="tanh", c0=i.c0, dcs=dcs.astype("float64")
    )
    scales = lstm.error_scales(i.params, {**d.astype("float64").arrays(), "dcs": dcs}, expected)
    allowed = tolerance(dtype, problem.T)
    where = reproduction(rnnbench_backend, problem, "b.bptt(..., c0=i.c0, dcs=dcs)")
    for name in checked_names(rnnbench_backend, "lstm"):
        error = normwise_error(got[name], expected[name], scales[name])
        assert error <= allowed, f"dL/d{name} with dcs: error {error:.3e} > {allowed:.3e}\n{where}"
