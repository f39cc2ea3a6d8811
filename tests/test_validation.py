"""Every branch of input validation, with the exact error each bad argument gets, per cell."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from rnnbench.cells import CELLS
from rnnbench.errors import InputError, UnsupportedError
from rnnbench.interface import Params
from rnnbench.problems import Problem, make_data
from rnnbench.validation import (
    C_ARGUMENTS,
    C_REQUIRED,
    DIMENSIONS,
    SHAPES,
    _fits,
    check_call,
    check_data,
    check_truncate,
    dtype_name,
)

T, B, D, H = 5, 2, 3, 4


def _backend(**declared) -> SimpleNamespace:
    """What validation reads of a backend: its name and what it declares."""
    defaults = {
        "name": "fake",
        "activations": frozenset({"tanh", "relu"}),
        "dtypes": frozenset({"float32", "float64"}),
        "supports_truncation": True,
        "cells": frozenset({"elman", "lstm", "gru"}),
        "missing_adjoints": {},
    }
    return SimpleNamespace(**{**defaults, **declared})


def _params(cell: str = "elman", dtype: str = "float64", **shapes) -> Params:
    """The cell's parameters for D, H, with some shapes replaced."""
    wanted = {**CELLS[cell].shapes(D, H), **shapes}
    return Params(**{name: np.zeros(shape, dtype) for name, shape in wanted.items()})


def _sequence(cell: str = "elman", dtype: str = "float64") -> dict[str, np.ndarray]:
    arrays = {
        "xs": np.zeros((T, B, D), dtype),
        "h0": np.zeros((B, H), dtype),
        "dhs": np.zeros((T, B, H), dtype),
    }
    if cell == "lstm":
        arrays["c0"] = np.zeros((B, H), dtype)
    return arrays


def _step(cell: str = "elman", dtype: str = "float64") -> dict[str, np.ndarray]:
    arrays = {"x_t": np.zeros((B, D), dtype), "h_prev": np.zeros((B, H), dtype)}
    if cell == "lstm":
        arrays["c_prev"] = np.zeros((B, H), dtype)
    return arrays


def _raises(kind: type[Exception], message: str):
    return pytest.raises(kind, match="^" + re.escape(message) + "$")


# -- check_call: what passes ---------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_well_formed_calls_pass(cell, dtype):
    backend = _backend()
    assert check_call(backend, _params(cell, dtype), "tanh", **_sequence(cell, dtype)) is None
    assert check_call(backend, _params(cell, dtype), "tanh", **_step(cell, dtype)) is None


def test_an_lstm_sequence_may_carry_the_c_cotangents():
    arrays = {**_sequence("lstm"), "dcs": np.zeros((T, B, H))}
    assert check_call(_backend(), _params("lstm"), "tanh", **arrays) is None


def test_the_elman_cell_takes_any_declared_activation_and_one_step_is_enough():
    seq = {"xs": np.zeros((1, B, D)), "h0": np.zeros((B, H))}
    assert check_call(_backend(), _params(), "relu", **seq) is None
    assert check_call(_backend(), _params(), "relu", **_step()) is None  # no T in a cell call


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_sizes_of_one_pass(cell):
    params = Params(**{name: np.zeros(shape) for name, shape in CELLS[cell].shapes(1, 1).items()})
    arrays = {"xs": np.zeros((1, 1, 1)), "h0": np.zeros((1, 1)), "dhs": np.zeros((1, 1, 1))}
    if cell == "lstm":
        arrays["c0"] = np.zeros((1, 1))
    assert check_call(_backend(), params, "tanh", **arrays) is None


@pytest.mark.parametrize(
    ("shape", "fits", "sizes"),
    [
        ((2, 36), True, {"D": 2, "H": 3}),  # a factor of two digits: "12H"
        ((2, 35), False, {"D": 2}),  # not a multiple of 12
        ((2, 36, 1), False, {}),
    ],
)
def test_a_shape_symbol_kh_is_k_times_h_for_any_k(shape, fits, sizes):
    fixed: dict[str, int] = {}
    assert _fits(("D", "12H"), shape, fixed) is fits
    assert fixed == sizes  # H = 36 / 12 where it fitted


def test_the_shape_tables():
    assert SHAPES == {
        "x_t": ("B", "D"),
        "h_prev": ("B", "H"),
        "c_prev": ("B", "H"),
        "xs": ("T", "B", "D"),
        "h0": ("B", "H"),
        "c0": ("B", "H"),
        "dhs": ("T", "B", "H"),
        "dcs": ("T", "B", "H"),
    }
    assert C_ARGUMENTS == ("c_prev", "c0", "dcs")
    assert C_REQUIRED == {"x_t": "c_prev", "xs": "c0"}
    assert DIMENSIONS == {"B": "batch", "D": "input size", "H": "hidden size"}


# -- check_call: the cell and the activation -----------------------------------------------------
def test_unsupported_activation_names_the_backend_and_what_it_supports():
    with _raises(
        UnsupportedError,
        "backend 'fake' does not support activation='sigmoid'; supported: ['relu', 'tanh']",
    ):
        check_call(_backend(), _params(), "sigmoid", **_sequence())


def test_an_undeclared_cell_names_the_backend_and_its_cells():
    backend = _backend(cells=frozenset({"gru", "elman"}))
    with _raises(
        UnsupportedError, "backend 'fake' does not support cell 'lstm'; supported: ['elman', 'gru']"
    ):
        check_call(backend, _params("lstm"), "tanh", **_sequence("lstm"))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_a_gated_cell_takes_only_tanh_even_where_the_backend_declares_more(cell, activation):
    message = (
        f"cell {cell!r} uses its fixed gate nonlinearities (sigmoid and tanh); "
        f"activation must be 'tanh', got {activation!r}"
    )
    with _raises(InputError, message):
        check_call(_backend(), _params(cell), activation, **_sequence(cell))


def test_parameter_names_of_no_cell_are_refused_listing_every_cell():
    params = Params(W_xh=np.zeros((D, H)), W_h=np.zeros((H, H)), b=np.zeros(H))
    with _raises(
        InputError,
        "parameters named W_xh, W_h, b match no cell; expected (elman: W_xh, W_hh, b; "
        "lstm: W_x, W_h, b; gru: W_x, W_h, b_x, b_h)",
    ):
        check_call(_backend(), params, "tanh", **_sequence())


# -- check_call: the c state ---------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["elman", "gru"])
@pytest.mark.parametrize("name", ["c_prev", "c0", "dcs"])
def test_a_c_state_given_to_a_cell_without_one_is_named(cell, name):
    arrays = {**_sequence(cell), name: np.zeros((B, H))}
    with _raises(InputError, f"{name} was given but the {cell} cell has no c state"):
        check_call(_backend(), _params(cell), "tanh", **arrays)


@pytest.mark.parametrize(("arrays", "needed"), [(_sequence(), "c0"), (_step(), "c_prev")])
def test_the_lstm_without_its_c_state_names_what_it_needs(arrays, needed):
    with _raises(InputError, f"the lstm cell needs {needed} (B, H): its c state"):
        check_call(_backend(), _params("lstm"), "tanh", **arrays)


# -- check_call: arguments and shapes ------------------------------------------------------------
def test_a_non_array_argument_is_named():
    params = Params(np.zeros((D, H)), np.zeros((H, H)), [0.0] * H)
    with _raises(InputError, "b must be an array, got list"):
        check_call(_backend(), params, "tanh", **_sequence())
    with _raises(InputError, "h0 must be an array, got float"):
        check_call(_backend(), _params(), "tanh", **{**_sequence(), "h0": 0.0})


@pytest.mark.parametrize(
    ("name", "shape", "message"),
    [
        ("xs", (T, B), "xs must have shape (T, B, D) with D=3, got (5, 2)"),
        ("h0", (1, B, H), "h0 must have shape (B, H) with H=4, B=2, got (1, 2, 4)"),
        ("dhs", (T * B * H,), "dhs must have shape (T, B, H) with H=4, T=5, B=2, got (40,)"),
    ],
)
def test_a_wrong_rank_is_named_with_the_expected_shape_and_the_known_sizes(name, shape, message):
    arrays = {**_sequence(), name: np.zeros(shape)}
    with _raises(InputError, message):
        check_call(_backend(), _params(), "tanh", **arrays)


def test_a_wrong_rank_of_a_parameter_is_named_with_the_sizes_known_before_it():
    with _raises(InputError, "W_xh must have shape (D, H) for the elman cell, got (3,)"):
        check_call(_backend(), _params(W_xh=(D,)), "tanh", **_sequence())
    with _raises(InputError, "b must have shape (H) for the elman cell with H=4, got (1, 4)"):
        check_call(_backend(), _params(b=(1, H)), "tanh", **_sequence())


@pytest.mark.parametrize(
    ("name", "shape", "message"),
    [
        ("W_hh", (H, H + 1), "W_hh must have shape (H, H) for the elman cell with H=4, got (4, 5)"),
        ("b", (H + 1,), "b must have shape (H) for the elman cell with H=4, got (5,)"),
        ("xs", (T, B, D + 1), "xs must have shape (T, B, D) with D=3, T=5, B=2, got (5, 2, 4)"),
        ("h0", (B, H - 1), "h0 must have shape (B, H) with H=4, B=2, got (2, 3)"),
        ("dhs", (T + 1, B, H), "dhs must have shape (T, B, H) with H=4, T=5, B=2, got (6, 2, 4)"),
        ("dhs", (T, B + 1, H), "dhs must have shape (T, B, H) with H=4, T=5, B=2, got (5, 3, 4)"),
    ],
)
def test_a_size_that_disagrees_with_an_earlier_argument_is_named(name, shape, message):
    params, arrays = _params(), _sequence()
    if name in params:
        params = params.replace(**{name: np.zeros(shape)})
    else:
        arrays[name] = np.zeros(shape)
    with _raises(InputError, message):
        check_call(_backend(), params, "tanh", **arrays)


def test_a_step_sizes_disagreement_is_named():
    arrays = {**_step(), "h_prev": np.zeros((B + 1, H))}
    with _raises(InputError, "h_prev must have shape (B, H) with H=4, B=2, got (3, 4)"):
        check_call(_backend(), _params(), "tanh", **arrays)
    arrays = {**_step("lstm"), "c_prev": np.zeros((B, 2 * H))}
    with _raises(InputError, "c_prev must have shape (B, H) with H=4, B=2, got (2, 8)"):
        check_call(_backend(), _params("lstm"), "tanh", **arrays)


@pytest.mark.parametrize(
    ("cell", "shapes", "message"),
    [
        # the first parameter already fits only the other cell: 15 = 3H for H = 5, not 4H
        ("lstm", {"W_x": (D, 15)}, "W_x must have shape (D, 4H) for the lstm cell with D=3, "
         "got (3, 15) (the shape of the gru cell's W_x)"),
        ("lstm", {"W_h": (H, 3 * H)}, "W_h must have shape (H, 4H) for the lstm cell with H=4, "
         "got (4, 12) (the shape of the gru cell's W_h)"),
        ("lstm", {"W_h": (H, 15)}, "W_h must have shape (H, 4H) for the lstm cell with H=4, "
         "got (4, 15)"),
        ("lstm", {"b": (H,)}, "b must have shape (4H) for the lstm cell with H=4, got (4,) "
         "(the shape of the elman cell's b)"),
        ("gru", {"W_x": (D, 4 * H)}, "W_x must have shape (D, 3H) for the gru cell with D=3, "
         "got (3, 16) (the shape of the lstm cell's W_x)"),
        ("gru", {"W_h": (H, 4 * H)}, "W_h must have shape (H, 3H) for the gru cell with H=4, "
         "got (4, 16) (the shape of the lstm cell's W_h)"),
        ("gru", {"b_h": (H,)}, "b_h must have shape (3H) for the gru cell with H=4, got (4,)"),
        ("elman", {"b": (4 * H,)}, "b must have shape (H) for the elman cell with H=4, "
         "got (16,) (the shape of the lstm cell's b)"),
    ],
)  # fmt: skip
def test_a_parameter_shaped_for_another_cell_names_that_cell(cell, shapes, message):
    with _raises(InputError, message):
        check_call(_backend(), _params(cell, **shapes), "tanh", **_sequence(cell))


def test_a_gated_cells_input_size_comes_from_its_first_parameter():
    arrays = {**_sequence("gru"), "xs": np.zeros((T, B, D + 2))}
    with _raises(InputError, "xs must have shape (T, B, D) with D=3, T=5, B=2, got (5, 2, 5)"):
        check_call(_backend(), _params("gru"), "tanh", **arrays)


def test_a_sequence_without_steps_is_refused():
    arrays = {"xs": np.zeros((0, 0, D)), "h0": np.zeros((0, H)), "dhs": np.zeros((0, 0, H))}
    with _raises(InputError, "xs must hold at least one time step (T >= 1), got T = 0"):
        check_call(_backend(), _params(), "tanh", **arrays)


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"B": 0}, "the batch B must be >= 1, got B = 0"),
        ({"B": 0, "H": 0}, "the batch B must be >= 1, got B = 0"),
        ({"D": 0}, "the input size D must be >= 1, got D = 0"),
        ({"D": 0, "H": 0}, "the input size D must be >= 1, got D = 0"),
        ({"H": 0}, "the hidden size H must be >= 1, got H = 0"),
    ],
)
def test_an_empty_size_is_named(cell, sizes, message):
    b, d, h = sizes.get("B", B), sizes.get("D", D), sizes.get("H", H)
    params = Params(**{name: np.zeros(shape) for name, shape in CELLS[cell].shapes(d, h).items()})
    arrays = {"xs": np.zeros((T, b, d)), "h0": np.zeros((b, h)), "dhs": np.zeros((T, b, h))}
    if cell == "lstm":
        arrays["c0"] = np.zeros((b, h))
    with _raises(InputError, message):
        check_call(_backend(), params, "tanh", **arrays)


# -- check_call: dtypes --------------------------------------------------------------------------
def test_an_undeclared_dtype_names_the_backend_and_what_it_supports():
    with _raises(
        UnsupportedError, "backend 'fake' does not support dtype float32; supported: ['float64']"
    ):
        check_call(_backend(dtypes=frozenset({"float64"})), _params(dtype="float32"), "tanh",
                   **_sequence(dtype="float32"))  # fmt: skip


@pytest.mark.parametrize("name", ["W_hh", "b", "xs", "h0", "dhs"])
def test_mixed_dtypes_name_the_odd_array(name):
    params, arrays = _params(), _sequence()
    if name in params:
        params = params.replace(**{name: params[name].astype(np.float32)})
    else:
        arrays[name] = arrays[name].astype(np.float32)
    with _raises(InputError, f"{name} has dtype float32 but W_xh has float64; all must match"):
        check_call(_backend(), params, "tanh", **arrays)


@pytest.mark.parametrize(("cell", "name"), [("lstm", "c0"), ("gru", "b_h")])
def test_mixed_dtypes_of_a_gated_cell_are_named_against_its_first_parameter(cell, name):
    params, arrays = _params(cell), _sequence(cell)
    if name in params:
        params = params.replace(**{name: params[name].astype(np.float32)})
    else:
        arrays[name] = arrays[name].astype(np.float32)
    with _raises(InputError, f"{name} has dtype float32 but W_x has float64; all must match"):
        check_call(_backend(), params, "tanh", **arrays)


def test_the_first_parameter_decides_the_dtype_checked_against_the_backend():
    params = _params("gru", dtype="float32").replace(b_h=np.zeros(3 * H))
    with _raises(InputError, "b_h has dtype float64 but W_x has float32; all must match"):
        check_call(_backend(), params, "tanh", **_sequence("gru", "float32"))


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
@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_finite_data_passes(cell):
    assert check_data(make_data(Problem(T=2, B=1, D=2, H=2, cell=cell))) is None


@pytest.mark.parametrize(
    ("cell", "name"),
    [
        *[("elman", name) for name in ("W_xh", "W_hh", "b", "xs", "h0", "dhs")],
        ("lstm", "c0"),
        ("gru", "b_h"),
    ],
)
@pytest.mark.parametrize(("bad", "count"), [([np.nan], 1), ([np.inf, -np.inf], 2)])
def test_non_finite_data_names_the_array_and_the_count(cell, name, bad, count):
    data = make_data(Problem(T=2, B=1, D=2, H=2, cell=cell))
    data.arrays()[name].flat[: len(bad)] = bad
    message = f"{name} holds {count} NaN or inf value(s); rnnbench refuses non-finite inputs"
    with _raises(InputError, message):
        check_data(data)
