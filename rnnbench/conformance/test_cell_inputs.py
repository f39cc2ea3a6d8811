"""A backend refuses calls that do not fit a cell with one error naming the problem: an
undeclared cell, parameters named for no cell or shaped for another, the c state missing or
given where there is none, a gated cell asked for another activation."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.cells import CELL_NAMES
from rnnbench.errors import InputError, UnsupportedError
from rnnbench.interface import Params
from rnnbench.problems import Problem, make_data

PROBLEM = Problem(T=3, B=2, D=4, H=5)


def native(backend, cell: str):
    """The problem of ``cell`` in the backend's native form (its first dtype)."""
    dtype = "float64" if "float64" in backend.dtypes else sorted(backend.dtypes)[0]
    return backend.load(make_data(PROBLEM.with_(cell=cell, dtype=dtype)))


def test_undeclared_cell_is_refused(rnnbench_backend):
    undeclared = [c for c in CELL_NAMES if c not in rnnbench_backend.cells]
    if not undeclared:
        pytest.skip(f"{rnnbench_backend.name} declares every cell")
    for cell in undeclared:
        d = make_data(PROBLEM.with_(cell=cell))
        params = Params(**{k: rnnbench_backend.to_native(v) for k, v in d.params.items()})
        xs, h0 = rnnbench_backend.to_native(d.xs), rnnbench_backend.to_native(d.h0)
        with pytest.raises(UnsupportedError, match=f"does not support cell '{cell}'"):
            rnnbench_backend.unroll(params, xs, h0, activation="tanh")


@pytest.mark.parametrize(("cell", "other"), [("lstm", "gru"), ("gru", "lstm")])
def test_parameters_shaped_for_another_cell_are_named(rnnbench_backend, cell, other):
    if cell not in rnnbench_backend.cells:
        pytest.skip(f"{rnnbench_backend.name} does not declare cell {cell}")
    i = native(rnnbench_backend, cell)
    theirs = make_data(PROBLEM.with_(cell=other, dtype=str(i.dhs.dtype).removeprefix("torch.")))
    swapped = i.params.replace(W_h=rnnbench_backend.to_native(theirs.W_h))
    gates = {"lstm": "4H", "gru": "3H"}[cell]
    message = rf"W_h must have shape \(H, {gates}\) for the {cell} cell .*the {other} cell's W_h"
    with pytest.raises(InputError, match=message):
        rnnbench_backend.unroll(swapped, i.xs, i.h0, activation="tanh", **i.state0)


def test_parameters_named_for_no_cell_are_refused(rnnbench_backend):
    i = native(rnnbench_backend, "elman")
    params = Params(W=i.params.W_xh, U=i.params.W_hh, b=i.params.b)
    with pytest.raises(InputError, match="parameters named W, U, b match no cell"):
        rnnbench_backend.unroll(
            params, i.xs, i.h0, activation=sorted(rnnbench_backend.activations)[0]
        )


def test_the_c_state_is_required_exactly_for_the_lstm(rnnbench_backend):
    if "lstm" not in rnnbench_backend.cells:
        pytest.skip(f"{rnnbench_backend.name} does not declare cell lstm")
    i = native(rnnbench_backend, "lstm")
    with pytest.raises(InputError, match="the lstm cell needs c0"):
        rnnbench_backend.bptt(i.params, i.xs, i.h0, i.dhs, activation="tanh")
    e = native(rnnbench_backend, "elman")
    with pytest.raises(InputError, match="c0 was given but the elman cell has no c state"):
        rnnbench_backend.unroll(e.params, e.xs, e.h0, activation="tanh", c0=e.h0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cell_refuses_another_activation(rnnbench_backend, cell):
    if cell not in rnnbench_backend.cells:
        pytest.skip(f"{rnnbench_backend.name} does not declare cell {cell}")
    i = native(rnnbench_backend, cell)
    with pytest.raises(InputError, match=f"cell '{cell}' uses its fixed gate nonlinearities"):
        rnnbench_backend.unroll(i.params, i.xs, i.h0, activation="relu", **i.state0)


def test_wrong_c0_shape_is_named(rnnbench_backend):
    if "lstm" not in rnnbench_backend.cells:
        pytest.skip(f"{rnnbench_backend.name} does not declare cell lstm")
    i = native(rnnbench_backend, "lstm")
    bad = rnnbench_backend.to_native(np.zeros((2, 7), str(i.dhs.dtype).removeprefix("torch.")))
    with pytest.raises(InputError, match="c0 must have shape"):
        rnnbench_backend.unroll(i.params, i.xs, i.h0, activation="tanh", c0=bad)
