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
from .support import ACTIVATIONS, BPTT_CALL, DTYPES, bptt, cases, checked_names, load, require

pytestmark = [pytest.mark.parametrize("dtype", DTYPES)]


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


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(data=st.data())
def test_single_step_bptt_is_plain_backprop(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation)
    problem = data.draw(problems(dtype=dtype, activation=activation, max_T=1), label="problem")
    got = bptt(rnnbench_backend, problem)
    expected_by_name = one_cell_gradients(make_data(problem))
    for name in checked_names(rnnbench_backend, "elman"):
        expected = expected_by_name[name]
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


@cases
@given(data=st.data())
def test_split_sequence_carries_state_and_adjoint(rnnbench_backend, dtype, cell, activation, data):
    """Running [0, split) then [split, T) from the state reached (every part of it) gives
    the same states; the second run's dL/dh0 (and dL/dc0) fed as cotangents of the first
    run's last state give the same gradients and adjoints."""
    require(rnnbench_backend, dtype=dtype, activation=activation, cell=cell)
    problem = data.draw(
        problems(dtype=dtype, activation=activation, min_T=2, cell=cell), label="problem"
    )
    split = data.draw(cut_points(problem.T), label="split")
    i = load(rnnbench_backend, problem)
    a, n, np_ = activation, rnnbench_backend.to_native, rnnbench_backend.to_numpy
    full_states = rnnbench_backend.states(i.params, i.xs, i.h0, activation=a, **i.state0)
    first = rnnbench_backend.states(i.params, i.xs[:split], i.h0, activation=a, **i.state0)
    middle = {f"{name[0]}0": value[split - 1] for name, value in first.items() if name != "hs"}
    second = rnnbench_backend.states(
        i.params, i.xs[split:], first["hs"][split - 1], activation=a, **middle
    )
    for name, value in full_states.items():
        joined = np.concatenate([np_(first[name]), np_(second[name])])
        expect_close(
            rnnbench_backend, problem, f"{name} split at {split}", "unroll", joined, np_(value)
        )

    full = rnnbench_backend.grads_to_numpy(
        rnnbench_backend.bptt(i.params, i.xs, i.h0, i.dhs, activation=a, **i.state0)
    )
    late = rnnbench_backend.grads_to_numpy(
        rnnbench_backend.bptt(
            i.params, i.xs[split:], first["hs"][split - 1], i.dhs[split:], activation=a, **middle
        )
    )
    carried = np_(i.dhs).copy()
    carried[split - 1] += late.h0
    extra = {}
    if "c0" in late:
        dcs = np.zeros_like(carried[:split])
        dcs[-1] = late.c0
        extra = {"dcs": n(dcs)}
    early = rnnbench_backend.grads_to_numpy(
        rnnbench_backend.bptt(
            i.params, i.xs[:split], i.h0, n(carried[:split]), activation=a, **i.state0, **extra
        )
    )
    names = checked_names(rnnbench_backend, cell)
    for name in i.params:
        summed = early[name] + late[name]
        expect_close(rnnbench_backend, problem, f"split dL/d{name}", name, summed, full[name])
    for name in (n0 for n0 in ("h0", "c0") if n0 in names):
        expect_close(rnnbench_backend, problem, f"split dL/d{name}", name, early[name], full[name])
    for name in (s for s in ("xs", "hs", "cs") if s in names):
        joined = np.concatenate([early[name], late[name]])
        expect_close(rnnbench_backend, problem, f"split dL/d{name}", name, joined, full[name])


@cases
@given(data=st.data())
def test_batch_gradient_is_sum_of_example_gradients(
    rnnbench_backend, dtype, cell, activation, data
):
    require(rnnbench_backend, dtype=dtype, activation=activation, cell=cell)
    problem = data.draw(problems(dtype=dtype, activation=activation, cell=cell), label="problem")
    d = make_data(problem)
    full = bptt(rnnbench_backend, problem)
    n = rnnbench_backend.to_native
    params = Params(**{name: n(value) for name, value in d.params.items()})

    def example(j: int) -> dict:
        state0 = {} if d.c0 is None else {"c0": n(d.c0[j : j + 1])}
        grads = rnnbench_backend.bptt(
            params,
            n(d.xs[:, j : j + 1]),
            n(d.h0[j : j + 1]),
            n(d.dhs[:, j : j + 1]),
            activation=activation,
            **state0,
        )
        return rnnbench_backend.grads_to_numpy(grads)

    singles = [example(j) for j in range(problem.B)]
    for name in d.params:
        summed = np.sum([g[name] for g in singles], axis=0)
        expect_close(
            rnnbench_backend, problem, f"batch-summed dL/d{name}", name, summed, full[name]
        )
    axes = {"h0": 0, "c0": 0, "xs": 1, "hs": 1, "cs": 1}
    for name in (k for k in checked_names(rnnbench_backend, cell) if k in axes):
        stacked = np.concatenate([g[name] for g in singles], axis=axes[name])
        expect_close(
            rnnbench_backend, problem, f"per-example dL/d{name}", name, stacked, full[name]
        )


@cases
@given(data=st.data())
def test_truncation_at_or_beyond_seq_len_is_full_bptt(
    rnnbench_backend, dtype, cell, activation, data
):
    require(rnnbench_backend, dtype=dtype, activation=activation, truncation=True, cell=cell)
    problem = data.draw(problems(dtype=dtype, activation=activation, cell=cell), label="problem")
    k = data.draw(st.integers(min_value=problem.T, max_value=problem.T + 3), label="truncate")
    full, truncated = bptt(rnnbench_backend, problem), bptt(rnnbench_backend, problem, truncate=k)
    for name, value in truncated.items():
        call = BPTT_CALL.format(a=activation, k=k)
        expect_close(
            rnnbench_backend, problem, f"k={k} dL/d{name}", name, value, full[name], call=call
        )


@cases
@given(data=st.data())
def test_truncation_is_exactly_zero_beyond_the_window(
    rnnbench_backend, dtype, cell, activation, data
):
    require(rnnbench_backend, dtype=dtype, activation=activation, truncation=True, cell=cell)
    problem = data.draw(
        problems(dtype=dtype, activation=activation, min_T=2, cotangent="last", cell=cell),
        label="problem",
    )
    k = data.draw(cut_points(problem.T), label="truncate")
    g = bptt(rnnbench_backend, problem, truncate=k)
    where = reproduction(rnnbench_backend, problem, BPTT_CALL.format(a=activation, k=k))
    beyond = problem.T - k
    for name in (s for s in ("hs", "cs", "xs") if s in g):
        assert not np.any(g[name][:beyond]), f"dL/d{name} non-zero beyond window k={k}\n{where}"
    for name in (s for s in ("h0", "c0") if s in g):
        assert not np.any(g[name]), f"dL/d{name} non-zero with k={k} < T\n{where}"
    if activation != "relu" and "hs" in g:  # relu may zero an in-window adjoint legitimately
        assert np.all(np.any(g.hs[beyond:] != 0, axis=(1, 2))), f"window empty\n{where}"
