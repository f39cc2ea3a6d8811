"""Identities of BPTT that hold for every backend, independent of the reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnbench.interface import Params
from rnnbench.problems import make_data
from rnnbench.tolerances import normwise_error, tolerance

from .assertions import reproduction
from .oracle import reference_scales
from .strategies import cut_points, problems
from .support import ACTIVATIONS, BPTT_CALL, DTYPES, GRADIENTS, bptt, checked, load, require

pytestmark = [
    pytest.mark.parametrize("dtype", DTYPES),
    pytest.mark.parametrize("activation", ACTIVATIONS),
]


def expect_close(backend, problem, what, key, value, expected, call="see test"):
    """Assert a normwise agreement, relative to the scale of the reference's terms for the
    result ``key`` (a gradient name or "unroll"), with the reproduction in the message."""
    tol = tolerance(problem.dtype, problem.T)
    error = normwise_error(value, expected, reference_scales(problem)[key])
    assert error <= tol, (
        f"{what}: normwise error {error:.3e} > {tol:.3e}\n{reproduction(backend, problem, call)}"
    )


def one_cell_gradients(data):
    """Plain backprop through one cell, in float64, from z (not from the output)."""
    d = data.astype("float64")
    x, h0, dh = d.xs[0], d.h0, d.dhs[0]
    z = x @ d.W_xh + h0 @ d.W_hh + d.b
    act = data.problem.activation
    if act == "tanh":
        fprime = 1.0 / np.cosh(z) ** 2
    elif act == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        fprime = s * (1.0 - s)
    elif act == "relu":
        fprime = (z > 0).astype(np.float64)
    else:
        fprime = np.ones_like(z)
    dz = dh * fprime
    return {
        "W_xh": x.T @ dz,
        "W_hh": h0.T @ dz,
        "b": dz.sum(0),
        "h0": dz @ d.W_hh.T,
        "xs": (dz @ d.W_xh.T)[None],
        "hs": dh[None],
    }


@given(data=st.data())
def test_single_step_bptt_is_plain_backprop(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation)
    problem = data.draw(problems(dtype=dtype, activation=activation, max_T=1), label="problem")
    got = bptt(rnnbench_backend, problem)
    expected_grads = one_cell_gradients(make_data(problem))
    for name in checked(rnnbench_backend, expected_grads):
        expected = expected_grads[name]
        call = BPTT_CALL.format(a=activation, k=None)
        expect_close(
            rnnbench_backend,
            problem,
            f"T=1 dL/d{name}",
            name,
            getattr(got, name),
            expected,
            call=call,
        )


@given(data=st.data())
def test_split_sequence_carries_state_and_adjoint(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation)
    problem = data.draw(problems(dtype=dtype, activation=activation, min_T=2), label="problem")
    split = data.draw(cut_points(problem.T), label="split")
    i = load(rnnbench_backend, problem)
    a = activation
    hs = rnnbench_backend.to_numpy(rnnbench_backend.unroll(i.params, i.xs, i.h0, activation=a))
    first = rnnbench_backend.unroll(i.params, i.xs[:split], i.h0, activation=a)
    second = rnnbench_backend.unroll(i.params, i.xs[split:], first[split - 1], activation=a)
    joined = np.concatenate([rnnbench_backend.to_numpy(first), rnnbench_backend.to_numpy(second)])
    expect_close(rnnbench_backend, problem, f"hs split at {split}", "unroll", joined, hs)

    full = rnnbench_backend.grads_to_numpy(
        rnnbench_backend.bptt(i.params, i.xs, i.h0, i.dhs, activation=a)
    )
    late = rnnbench_backend.bptt(
        i.params, i.xs[split:], first[split - 1], i.dhs[split:], activation=a
    )
    carried = rnnbench_backend.to_numpy(i.dhs).copy()
    carried[split - 1] += rnnbench_backend.to_numpy(late.h0)
    early = rnnbench_backend.bptt(
        i.params, i.xs[:split], i.h0, rnnbench_backend.to_native(carried[:split]), activation=a
    )
    early, late = rnnbench_backend.grads_to_numpy(early), rnnbench_backend.grads_to_numpy(late)
    for name in ("W_xh", "W_hh", "b"):
        summed = getattr(early, name) + getattr(late, name)
        expect_close(
            rnnbench_backend, problem, f"split dL/d{name}", name, summed, getattr(full, name)
        )
    expect_close(rnnbench_backend, problem, "split dL/dh0", "h0", early.h0, full.h0)
    for name in checked(rnnbench_backend, ("xs", "hs")):
        joined = np.concatenate([getattr(early, name), getattr(late, name)])
        expect_close(
            rnnbench_backend, problem, f"split dL/d{name}", name, joined, getattr(full, name)
        )


@given(data=st.data())
def test_batch_gradient_is_sum_of_example_gradients(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation)
    problem = data.draw(problems(dtype=dtype, activation=activation), label="problem")
    d = make_data(problem)
    full = bptt(rnnbench_backend, problem)
    n = rnnbench_backend.to_native
    params = Params(n(d.W_xh), n(d.W_hh), n(d.b))
    singles = [
        rnnbench_backend.grads_to_numpy(
            rnnbench_backend.bptt(
                params,
                n(d.xs[:, j : j + 1]),
                n(d.h0[j : j + 1]),
                n(d.dhs[:, j : j + 1]),
                activation=activation,
            )
        )
        for j in range(problem.B)
    ]
    for name in ("W_xh", "W_hh", "b"):
        summed = np.sum([getattr(g, name) for g in singles], axis=0)
        expect_close(
            rnnbench_backend, problem, f"batch-summed dL/d{name}", name, summed, getattr(full, name)
        )
    batch_axis = {"h0": 0, "xs": 1, "hs": 1}
    for name in checked(rnnbench_backend, batch_axis):
        stacked = np.concatenate([getattr(g, name) for g in singles], axis=batch_axis[name])
        expect_close(
            rnnbench_backend, problem, f"per-example dL/d{name}", name, stacked, getattr(full, name)
        )


@given(data=st.data())
def test_truncation_at_or_beyond_seq_len_is_full_bptt(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation, truncation=True)
    problem = data.draw(problems(dtype=dtype, activation=activation), label="problem")
    k = data.draw(st.integers(min_value=problem.T, max_value=problem.T + 3), label="truncate")
    full, truncated = bptt(rnnbench_backend, problem), bptt(rnnbench_backend, problem, truncate=k)
    for name in checked(rnnbench_backend, GRADIENTS):
        value = getattr(truncated, name)
        call = BPTT_CALL.format(a=activation, k=k)
        expect_close(
            rnnbench_backend,
            problem,
            f"k={k} dL/d{name}",
            name,
            value,
            getattr(full, name),
            call=call,
        )


@given(data=st.data())
def test_truncation_is_exactly_zero_beyond_the_window(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation, truncation=True)
    problem = data.draw(
        problems(dtype=dtype, activation=activation, min_T=2, cotangent="last"), label="problem"
    )
    k = data.draw(cut_points(problem.T), label="truncate")
    g = bptt(rnnbench_backend, problem, truncate=k)
    where = reproduction(rnnbench_backend, problem, BPTT_CALL.format(a=activation, k=k))
    beyond = problem.T - k
    assert not np.any(g.xs[:beyond]), f"dL/dx_t non-zero beyond window k={k}\n{where}"
    assert not np.any(g.h0), f"dL/dh0 non-zero with k={k} < T\n{where}"
    if not rnnbench_backend.provides_adjoints:
        return
    assert not np.any(g.hs[:beyond]), f"dL/dh_t non-zero beyond window k={k}\n{where}"
    if activation != "relu":  # relu may zero an in-window adjoint legitimately
        assert np.all(np.any(g.hs[beyond:] != 0, axis=(1, 2))), f"window empty\n{where}"
