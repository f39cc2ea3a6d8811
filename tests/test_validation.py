"""Every branch of input validation, with the exact error each bad argument gets."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from rnnbench.errors import InputError, UnsupportedError
from rnnbench.interface import Params
from rnnbench.problems import Problem, make_data
from rnnbench.validation import SHAPES, check_call, check_data, check_truncate, dtype_name

T, B, D, H = 5, 2, 3, 4


def _backend(**declared) -> SimpleNamespace:
    """What validation reads of a backend: its name and what it declares."""
    defaults = {
        "name": "fake",
        "activations": frozenset({"tanh", "relu"}),
        "dtypes": frozenset({"float32", "float64"}),
        "supports_truncation": True,
        "cells": frozenset({"elman"}),
        "missing_adjoints": {},
    }
    return SimpleNamespace(**{**defaults, **declared})


def _params(dtype: str = "float64") -> Params:
    return Params(np.zeros((D, H), dtype), np.zeros((H, H), dtype), np.zeros(H, dtype))


def _sequence(dtype: str = "float64") -> dict[str, np.ndarray]:
    return {
        "xs": np.zeros((T, B, D), dtype),
        "h0": np.zeros((B, H), dtype),
        "dhs": np.zeros((T, B, H), dtype),
    }


def _raises(kind: type[Exception], message: str):
    return pytest.raises(kind, match="^" + re.escape(message) + "$")


# -- check_call: what passes ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_well_formed_calls_pass(dtype):
    backend = _backend()
    assert check_call(backend, _params(dtype), "tanh", **_sequence(dtype)) is None
    cell = {"x_t": np.zeros((B, D), dtype), "h_prev": np.zeros((B, H), dtype)}
    assert check_call(backend, _params(dtype), "relu", **cell) is None  # no T in a cell call


def test_one_step_is_enough():
    seq = {"xs": np.zeros((1, B, D)), "h0": np.zeros((B, H))}
    assert check_call(_backend(), _params(), "tanh", **seq) is None


def test_every_argument_has_a_shape():
    assert set(SHAPES) == {"W_xh", "W_hh", "b", "x_t", "h_prev", "xs", "h0", "dhs"}
    assert SHAPES["xs"] == ("T", "B", "D") and SHAPES["W_xh"] == ("D", "H")


# -- check_call: each failure ------------------------------------------------------------------
def test_unsupported_activation_names_the_backend_and_what_it_supports():
    with _raises(
        UnsupportedError,
        "backend 'fake' does not support activation='sigmoid'; supported: ['relu', 'tanh']",
    ):
        check_call(_backend(), _params(), "sigmoid", **_sequence())


def test_a_non_array_argument_is_named():
    params = Params(np.zeros((D, H)), np.zeros((H, H)), [0.0] * H)
    with _raises(InputError, "b must be an array, got list"):
        check_call(_backend(), params, "tanh", **_sequence())
    with _raises(InputError, "h0 must be an array, got float"):
        check_call(_backend(), _params(), "tanh", **{**_sequence(), "h0": 0.0})


@pytest.mark.parametrize(
    ("name", "shape", "expected"),
    [("xs", (T, B), "(T, B, D)"), ("h0", (1, B, H), "(B, H)"), ("dhs", (T * B * H,), "(T, B, H)")],
)
def test_a_wrong_rank_is_named_with_the_expected_shape(name, shape, expected):
    arrays = {**_sequence(), name: np.zeros(shape)}
    with _raises(InputError, f"{name} must have shape {expected}, got {shape}"):
        check_call(_backend(), _params(), "tanh", **arrays)


def test_a_wrong_rank_of_a_parameter_is_named():
    params = Params(np.zeros((D, H)), np.zeros((H, H)), np.zeros((1, H)))
    with _raises(InputError, f"b must have shape (H), got (1, {H})"):
        check_call(_backend(), params, "tanh", **_sequence())


@pytest.mark.parametrize(
    ("name", "shape", "fixed"),
    [
        ("W_hh", (H, H + 1), f"H={H}, H={H}"),
        ("b", (H + 1,), f"H={H}"),
        ("xs", (T, B, D + 1), f"T={T}, B={B}, D={D}"),
        ("h0", (B, H - 1), f"B={B}, H={H}"),
        ("dhs", (T + 1, B, H), f"T={T}, B={B}, H={H}"),
        ("dhs", (T, B + 1, H), f"T={T}, B={B}, H={H}"),
    ],
)
def test_a_size_that_disagrees_with_an_earlier_argument_is_named(name, shape, fixed):
    params = {"W_xh": np.zeros((D, H)), "W_hh": np.zeros((H, H)), "b": np.zeros(H)}
    arrays = {**_sequence(), name: np.zeros(shape)}
    if name in params:
        params[name] = arrays.pop(name)
    expected = "(" + ", ".join(SHAPES[name]) + ")"
    with _raises(InputError, f"{name} must have shape {expected} with {fixed}, got {shape}"):
        check_call(_backend(), Params(**params), "tanh", **arrays)


def test_a_sequence_without_steps_is_refused():
    arrays = {**_sequence(), "xs": np.zeros((0, B, D)), "dhs": np.zeros((0, B, H))}
    with _raises(InputError, "xs must hold at least one time step (T >= 1), got T = 0"):
        check_call(_backend(), _params(), "tanh", **arrays)


def test_an_undeclared_dtype_names_the_backend_and_what_it_supports():
    with _raises(
        UnsupportedError, "backend 'fake' does not support dtype float32; supported: ['float64']"
    ):
        check_call(_backend(dtypes=frozenset({"float64"})), _params("float32"), "tanh",
                   **_sequence("float32"))  # fmt: skip


@pytest.mark.parametrize("name", ["W_hh", "b", "xs", "h0", "dhs"])
def test_mixed_dtypes_name_the_odd_array(name):
    params = {"W_xh": np.zeros((D, H)), "W_hh": np.zeros((H, H)), "b": np.zeros(H)}
    arrays = _sequence()
    target = params if name in params else arrays
    target[name] = target[name].astype(np.float32)
    with _raises(InputError, f"{name} has dtype float32 but W_xh has float64; all must match"):
        check_call(_backend(), Params(**params), "tanh", **arrays)


def test_dtype_names_are_framework_neutral():
    assert dtype_name(np.zeros(1, np.float32)) == "float32"
    assert dtype_name(SimpleNamespace(dtype="torch.float64")) == "float64"
    assert dtype_name([1.0]) == "list"


# -- check_truncate ------------------------------------------------------------------------------
@pytest.mark.parametrize("truncate", [None, 1, 7, np.int64(3)])
def test_valid_truncation_passes(truncate):
    assert check_truncate(_backend(), truncate) is None


def test_no_truncation_needs_no_support_for_it():
    assert check_truncate(_backend(supports_truncation=False), None) is None


@pytest.mark.parametrize("truncate", [0, -2, True, False, 2.0, "3", np.float64(2.0)])
def test_invalid_truncation_is_refused(truncate):
    with _raises(InputError, f"truncate must be None or an integer >= 1, got {truncate!r}"):
        check_truncate(_backend(), truncate)


def test_a_backend_declaring_no_truncation_refuses_it():
    with _raises(UnsupportedError, "backend 'fake' does not support truncated BPTT"):
        check_truncate(_backend(supports_truncation=False), 2)


def test_an_invalid_truncation_is_an_input_error_even_where_truncation_is_unsupported():
    with pytest.raises(InputError):
        check_truncate(_backend(supports_truncation=False), 0)


# -- check_data ------------------------------------------------------------------------------------
def test_finite_data_passes():
    assert check_data(make_data(Problem(T=2, B=1, D=2, H=2))) is None


@pytest.mark.parametrize("name", ["W_xh", "W_hh", "b", "xs", "h0", "dhs"])
@pytest.mark.parametrize(("bad", "count"), [([np.nan], 1), ([np.inf, -np.inf], 2)])
def test_non_finite_data_names_the_array_and_the_count(name, bad, count):
    data = make_data(Problem(T=2, B=1, D=2, H=2))
    getattr(data, name).flat[: len(bad)] = bad
    message = f"{name} holds {count} NaN or inf value(s); rnnbench refuses non-finite inputs"
    with _raises(InputError, message):
        check_data(data)
