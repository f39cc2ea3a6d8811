"""A backend refuses malformed calls with errors that name the argument."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.errors import InputError, UnsupportedError
from rnnbench.interface import Params
from rnnbench.problems import Problem, make_data

PROBLEM = Problem(T=3, B=2, D=4, H=5)


def native(backend, dtype="float64"):
    dtype = dtype if dtype in backend.dtypes else sorted(backend.dtypes)[0]
    activation = sorted(backend.activations)[0]
    d = make_data(PROBLEM.with_(dtype=dtype, activation=activation))
    i = backend.load(d)
    return i, activation, d


@pytest.mark.parametrize("argument", ["xs", "h0", "dhs"])
def test_wrong_shape_is_named(rnnbench_backend, argument):
    i, activation, d = native(rnnbench_backend)
    args = {"xs": i.xs, "h0": i.h0, "dhs": i.dhs}
    args[argument] = rnnbench_backend.to_native(
        np.zeros((7,) * getattr(d, argument).ndim, d.xs.dtype)
    )
    with pytest.raises(InputError, match=argument):
        rnnbench_backend.bptt(i.params, args["xs"], args["h0"], args["dhs"], activation=activation)


def test_wrong_weight_shape_is_named(rnnbench_backend):
    i, activation, d = native(rnnbench_backend)
    bad = Params(
        i.params.W_xh, rnnbench_backend.to_native(np.zeros((5, 4), d.xs.dtype)), i.params.b
    )
    with pytest.raises(InputError, match="W_hh"):
        rnnbench_backend.unroll(bad, i.xs, i.h0, activation=activation)


def test_empty_sequence_is_refused(rnnbench_backend):
    i, activation, d = native(rnnbench_backend)
    with pytest.raises(InputError, match="T"):
        rnnbench_backend.unroll(
            i.params, rnnbench_backend.to_native(d.xs[:0]), i.h0, activation=activation
        )


def test_unknown_activation_is_refused(rnnbench_backend):
    i, _, _ = native(rnnbench_backend)
    with pytest.raises(UnsupportedError, match="softplus"):
        rnnbench_backend.unroll(i.params, i.xs, i.h0, activation="softplus")


def test_non_finite_input_is_refused(rnnbench_backend):
    d = make_data(PROBLEM.with_(dtype=sorted(rnnbench_backend.dtypes)[0]))
    d.xs[1, 0, 2] = np.nan
    with pytest.raises(InputError, match="xs"):
        rnnbench_backend.load(d)


@pytest.mark.parametrize("truncate", [0, -1, 1.5])
def test_bad_truncation_window_is_refused(rnnbench_backend, truncate):
    i, activation, _ = native(rnnbench_backend)
    with pytest.raises((InputError, UnsupportedError), match=r"truncate|truncated"):
        rnnbench_backend.bptt(i.params, i.xs, i.h0, i.dhs, activation=activation, truncate=truncate)
