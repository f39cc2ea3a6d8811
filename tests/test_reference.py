"""The oracle's truncated BPTT against its definition, ``reference_outputs`` against the
three functions it combines, and the LSTM's c cotangents against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.activations import ACTIVATIONS
from rnnbench.interface import Params
from rnnbench.problems import Problem, make_data
from rnnbench.reference import (
    elman,
    lstm,
    reference_grads,
    reference_hs,
    reference_outputs,
    reference_scales,
)
from rnnbench.reference.ops import NumpyOps

OPS = NumpyOps()


def truncated_by_definition(params, xs, h0, hs, dhs, activation, k):
    """Truncated gradients as the sum, over loss terms s, of full BPTT of <dhs_s, h_s> alone
    over cells max(0, s-k+1)..s, started from the forward state before them held fixed (or
    from h0, which then gets a gradient)."""
    T = xs.shape[0]
    total = {
        "W_xh": np.zeros_like(params.W_xh),
        "W_hh": np.zeros_like(params.W_hh),
        "b": np.zeros_like(params.b),
        "h0": np.zeros_like(h0),
        "xs": np.zeros_like(xs),
        "hs": np.zeros_like(hs),
    }
    for s in range(T):
        start = max(0, s - k + 1)
        window = slice(start, s + 1)
        term = np.zeros_like(dhs[window])
        term[-1] = dhs[s]
        h_start = h0 if start == 0 else hs[start - 1]
        g = elman.bptt(OPS, params, xs[window], h_start, hs[window], term, activation)
        for name in ("W_xh", "W_hh", "b"):
            total[name] += g[name]
        total["xs"][window] += g["xs"]
        total["hs"][window] += g["hs"]
        if start == 0:
            total["h0"] += g["h0"]
    return total


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_truncated_bptt_follows_its_definition(activation, k):
    d = make_data(Problem(T=7, B=2, D=3, H=4, activation=activation, seed=k))
    params = Params(d.W_xh, d.W_hh, d.b)
    hs = elman.unroll(OPS, params, d.xs, d.h0, activation)
    got = elman.bptt_truncated(OPS, params, d.xs, d.h0, hs, d.dhs, activation, k)
    expected = truncated_by_definition(params, d.xs, d.h0, hs, d.dhs, activation, k)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-12, err_msg=name)


def test_a_window_covering_the_sequence_is_full_bptt_and_a_shorter_one_is_not():
    d = make_data(Problem(T=5, B=2, D=3, H=4))
    params = Params(d.W_xh, d.W_hh, d.b)
    hs = elman.unroll(OPS, params, d.xs, d.h0, "tanh")
    full = elman.bptt(OPS, params, d.xs, d.h0, hs, d.dhs, "tanh")
    windowed = elman.bptt_truncated(OPS, params, d.xs, d.h0, hs, d.dhs, "tanh", 5)
    for name, value in full.items():
        np.testing.assert_allclose(windowed[name], value, rtol=1e-12, atol=1e-12, err_msg=name)
    shorter = elman.bptt_truncated(OPS, params, d.xs, d.h0, hs, d.dhs, "tanh", 4)
    for name, value in full.items():
        assert not np.allclose(shorter[name], value), f"window 4 < T left {name} unchanged"


@pytest.mark.parametrize("truncate", [None, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reference_outputs_is_the_three_functions_at_once(dtype, truncate):
    data = make_data(Problem(T=6, B=2, D=3, H=4, dtype=dtype, activation="sigmoid"))
    out = reference_outputs(data, truncate)
    hs, grads = reference_hs(data), reference_grads(data, truncate)
    assert out.hs.dtype == np.float64
    np.testing.assert_array_equal(out.hs, hs)
    for name, value in grads.items():
        np.testing.assert_array_equal(getattr(out.grads, name), value, err_msg=name)
    assert out.scales == reference_scales(data, hs, grads)
    assert list(out.outputs) == ["unroll", *(name for name, _ in grads.items())]


def test_reference_outputs_refuses_a_bad_window():
    with pytest.raises(ValueError, match="truncate must be None or an integer >= 1"):
        reference_outputs(make_data(Problem(T=3)), truncate=0)


def test_lstm_c_cotangents_at_every_step_match_central_differences():
    """L = sum_t <dhs_t, h_t> + <dcs_t, c_t> with dcs non-zero at every step (the kit only
    ever gives a dcs at the last step): every gradient of the LSTM oracle against central
    differences along a random direction, in float64."""
    d = make_data(Problem(T=5, B=2, D=3, H=4, cell="lstm", dtype="float64", seed=4))
    rng = np.random.default_rng(0)
    dcs = rng.standard_normal(d.dhs.shape)
    inputs = {**d.params, "h0": d.h0, "c0": d.c0, "xs": d.xs}

    def loss(a: dict) -> float:
        params = Params(**{name: a[name] for name in d.params})
        fwd = lstm.forward(OPS, params, a["xs"], a["h0"], a["c0"])
        return float(np.sum(d.dhs * fwd.hs) + np.sum(dcs * fwd.cs))

    grads = lstm.gradients(OPS, Params(**d.params), d.xs, d.h0, d.c0, d.dhs, dcs, truncate=None)
    step = 1e-6
    for name, value in inputs.items():
        direction = rng.standard_normal(value.shape)
        plus = loss({**inputs, name: value + step * direction})
        minus = loss({**inputs, name: value - step * direction})
        numeric = (plus - minus) / (2 * step)
        analytic = float(np.sum(grads[name] * direction))
        assert abs(numeric - analytic) <= 1e-7 * max(1.0, abs(analytic)), name
