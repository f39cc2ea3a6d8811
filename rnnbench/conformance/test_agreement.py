"""Every backend against the float64 NumPy reference, on every cell it declares: cell,
unroll (every state part) and every gradient and adjoint."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnbench.interface import Grads
from rnnbench.problems import Problem, make_data
from rnnbench.validation import type_name

from .assertions import assert_close
from .oracle import reference_grads, reference_scales, reference_states
from .strategies import cut_points, problems
from .support import BPTT_CALL, DTYPES, cases, checked_names, load, require

pytestmark = [pytest.mark.parametrize("dtype", DTYPES), cases]


@given(data=st.data())
def test_cell_matches_reference(rnnbench_backend, dtype, cell, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation, cell=cell)
    problem = data.draw(
        problems(dtype=dtype, activation=activation, max_T=1, cell=cell), label="problem"
    )
    i = load(rnnbench_backend, problem)
    state = {} if i.c0 is None else {"c_prev": i.c0}
    out = rnnbench_backend.cell(i.params, i.xs[0], i.h0, activation=activation, **state)
    call = f"b.cell(i.params, i.xs[0], i.h0, activation={activation!r}, c_prev=i.c0)"
    scale = reference_scales(problem)["unroll"]
    expected = reference_states(problem)
    h1, parts = (out[0], {"cs": out[1]}) if i.c0 is not None else (out, {})
    assert_close(
        rnnbench_backend, problem, "cell h_1", h1, expected["hs"][0], call=call, scale=scale
    )
    for name, value in parts.items():
        assert_close(
            rnnbench_backend, problem, "cell c_1", value, expected[name][0], call=call, scale=scale
        )


@given(data=st.data())
def test_unroll_matches_reference(rnnbench_backend, dtype, cell, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation, cell=cell)
    problem = data.draw(problems(dtype=dtype, activation=activation, cell=cell), label="problem")
    i = load(rnnbench_backend, problem)
    hs = rnnbench_backend.unroll(i.params, i.xs, i.h0, activation=activation, **i.state0)
    states = rnnbench_backend.states(i.params, i.xs, i.h0, activation=activation, **i.state0)
    call = f"b.unroll(i.params, i.xs, i.h0, activation={activation!r}, **i.state0)"
    scale = reference_scales(problem)["unroll"]
    expected = reference_states(problem)
    assert_close(rnnbench_backend, problem, "unroll hs", hs, expected["hs"], call=call, scale=scale)
    assert sorted(states) == sorted(expected), f"states gave {sorted(states)}"
    for name, value in states.items():
        what = f"states {name}"
        assert_close(rnnbench_backend, problem, what, value, expected[name], call=call, scale=scale)


def check_gradients(backend, problem, truncate):
    """Compare every gradient (and the per-step adjoints) with the reference."""
    i = load(backend, problem)
    grads = backend.bptt(
        i.params, i.xs, i.h0, i.dhs, activation=problem.activation, truncate=truncate, **i.state0
    )
    reference = reference_grads(problem, truncate)
    scales = reference_scales(problem, truncate)
    call = BPTT_CALL.format(a=problem.activation, k=truncate)
    kind = type_name(type(grads))
    assert isinstance(grads, Grads), f"bptt returned {kind}, expected rnnbench.Grads"
    expected_names = checked_names(backend, problem.cell)
    missing = [name for name in expected_names if name not in grads]
    assert not missing, f"bptt returned no {', '.join(missing)} for the {problem.cell} cell"
    for name in expected_names:
        assert_close(
            backend,
            problem,
            f"bptt dL/d{name}",
            grads[name],
            reference[name],
            call=call,
            scale=scales[name],
        )


@given(data=st.data())
def test_bptt_matches_reference(rnnbench_backend, dtype, cell, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation, cell=cell)
    problem = data.draw(problems(dtype=dtype, activation=activation, cell=cell), label="problem")
    check_gradients(rnnbench_backend, problem, truncate=None)


@given(data=st.data())
def test_truncated_bptt_matches_reference(rnnbench_backend, dtype, cell, activation, data):
    require(rnnbench_backend, dtype=dtype, activation=activation, truncation=True, cell=cell)
    problem = data.draw(
        problems(dtype=dtype, activation=activation, min_T=2, cell=cell), label="problem"
    )
    k = data.draw(cut_points(problem.T), label="truncate")
    check_gradients(rnnbench_backend, problem, truncate=k)


def test_inputs_are_unchanged_by_bptt(rnnbench_backend, dtype, cell, activation):
    """A backend must not modify its inputs in place."""
    require(rnnbench_backend, dtype=dtype, activation=activation, cell=cell)
    problem = Problem(T=5, B=2, D=3, H=4, activation=activation, dtype=dtype, seed=7, cell=cell)
    i = load(rnnbench_backend, problem)
    rnnbench_backend.bptt(i.params, i.xs, i.h0, i.dhs, activation=activation, **i.state0)
    data = make_data(problem)  # fresh arrays, in case the backend shares memory with NumPy
    given_arrays = {**i.params, "xs": i.xs, "h0": i.h0, **i.state0, "dhs": i.dhs}
    for name, expected in data.arrays().items():
        assert (rnnbench_backend.to_numpy(given_arrays[name]) == expected).all(), (
            f"bptt modified {name}"
        )
