"""Every backend against the float64 NumPy reference: cell, unroll and every gradient."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnbench.problems import Problem, make_data

from .assertions import assert_close
from .oracle import reference_grads, reference_hs, reference_scales
from .strategies import cut_points, problems
from .support import ACTIVATIONS, BPTT_CALL, DTYPES, GRADIENTS, checked, load, require

pytestmark = [
    pytest.mark.parametrize("dtype", DTYPES),
    pytest.mark.parametrize("activation", ACTIVATIONS),
]


@given(data=st.data())
def test_cell_matches_reference(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation)
    problem = data.draw(problems(dtype=dtype, activation=activation, max_T=1), label="problem")
    i = load(rnnbench_backend, problem)
    h1 = rnnbench_backend.cell(i.params, i.xs[0], i.h0, activation=activation)
    call = f"b.cell(i.params, i.xs[0], i.h0, activation={activation!r})"
    scale = reference_scales(problem)["unroll"]
    assert_close(
        rnnbench_backend, problem, "cell h_1", h1, reference_hs(problem)[0], call=call, scale=scale
    )


@given(data=st.data())
def test_unroll_matches_reference(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation)
    problem = data.draw(problems(dtype=dtype, activation=activation), label="problem")
    i = load(rnnbench_backend, problem)
    hs = rnnbench_backend.unroll(i.params, i.xs, i.h0, activation=activation)
    call = f"b.unroll(i.params, i.xs, i.h0, activation={activation!r})"
    scale = reference_scales(problem)["unroll"]
    assert_close(
        rnnbench_backend, problem, "unroll hs", hs, reference_hs(problem), call=call, scale=scale
    )


def check_gradients(backend, problem, truncate):
    """Compare every gradient (and the per-step adjoints, if the backend provides them)
    with the reference."""
    i = load(backend, problem)
    grads = backend.bptt(
        i.params, i.xs, i.h0, i.dhs, activation=problem.activation, truncate=truncate
    )
    reference = reference_grads(problem, truncate)
    scales = reference_scales(problem, truncate)
    call = BPTT_CALL.format(a=problem.activation, k=truncate)
    for name in checked(backend, GRADIENTS):
        value, expected = getattr(grads, name), getattr(reference, name)
        assert_close(
            backend, problem, f"bptt dL/d{name}", value, expected, call=call, scale=scales[name]
        )


@given(data=st.data())
def test_bptt_matches_reference(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation)
    problem = data.draw(problems(dtype=dtype, activation=activation), label="problem")
    check_gradients(rnnbench_backend, problem, truncate=None)


@given(data=st.data())
def test_truncated_bptt_matches_reference(rnnbench_backend, dtype, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation, truncation=True)
    problem = data.draw(problems(dtype=dtype, activation=activation, min_T=2), label="problem")
    k = data.draw(cut_points(problem.T), label="truncate")
    check_gradients(rnnbench_backend, problem, truncate=k)


def test_inputs_are_unchanged_by_bptt(rnnbench_backend, dtype, activation):
    """A backend must not modify its inputs in place."""
    require(rnnbench_backend, dtype=dtype, activation=activation)
    problem = Problem(T=5, B=2, D=3, H=4, activation=activation, dtype=dtype, seed=7)
    i = load(rnnbench_backend, problem)
    rnnbench_backend.bptt(i.params, i.xs, i.h0, i.dhs, activation=activation)
    data = make_data(problem)  # fresh arrays, in case the backend shares memory with NumPy
    for name, value in [
        ("W_xh", i.params.W_xh),
        ("W_hh", i.params.W_hh),
        ("b", i.params.b),
        ("xs", i.xs),
        ("h0", i.h0),
        ("dhs", i.dhs),
    ]:
        assert (rnnbench_backend.to_numpy(value) == getattr(data, name)).all(), (
            f"bptt modified {name}"
        )
