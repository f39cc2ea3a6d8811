"""The per-cell facts of ``rnnbench.cells``: names, shapes, lookups and FLOP counts worked out
by hand (D = 4 differs from H = 5, so a swapped symbol shows)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from rnnbench.cells import (
    CELL_NAMES,
    CELLS,
    DEFAULT_CELL,
    Cell,
    bptt_flops,
    cell_of_params,
    check_activation,
    forward_flops,
    get_cell,
)
from rnnbench.errors import InputError
from rnnbench.presets import Size

EXPECTED_NAMES = "(elman: W_xh, W_hh, b; lstm: W_x, W_h, b; gru: W_x, W_h, b_x, b_h)"


def _raises(message: str):
    return pytest.raises(InputError, match="^" + re.escape(message) + "$")


def test_the_cells_and_the_default():
    assert CELL_NAMES == ("elman", "lstm", "gru") == tuple(CELLS)
    assert DEFAULT_CELL == "elman"
    assert all(cell.name == name for name, cell in CELLS.items())


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        ("elman", {"W_xh": (4, 5), "W_hh": (5, 5), "b": (5,)}),
        ("lstm", {"W_x": (4, 20), "W_h": (5, 20), "b": (20,)}),
        ("gru", {"W_x": (4, 15), "W_h": (5, 15), "b_x": (15,), "b_h": (15,)}),
    ],
)
def test_parameter_shapes_for_d_4_and_h_5(name, shapes):
    cell = CELLS[name]
    assert cell.shapes(D=4, H=5) == shapes
    assert list(cell.shapes(D=4, H=5)) == list(shapes)  # in the cell's order
    assert cell.param_names == tuple(shapes)


def test_a_shape_symbol_kh_is_k_times_h_for_any_k():
    wide = Cell("wide", (("W", ("D", "12H")), ("b", ("H",))), ("h",))
    assert wide.shapes(D=2, H=3) == {"W": (2, 36), "b": (3,)}


@pytest.mark.parametrize(
    ("name", "gates", "n_gates", "state", "activations"),
    [
        ("elman", (), 1, ("h",), None),
        ("lstm", ("i", "f", "g", "o"), 4, ("h", "c"), ("tanh",)),
        ("gru", ("r", "z", "n"), 3, ("h",), ("tanh",)),
    ],
)
def test_gates_state_and_activations(name, gates, n_gates, state, activations):
    cell = CELLS[name]
    assert (cell.gates, cell.n_gates, cell.state) == (gates, n_gates, state)
    assert cell.activations == activations


def test_state_names_and_every_gradient_name_in_order():
    elman, lstm, gru = CELLS["elman"], CELLS["lstm"], CELLS["gru"]
    assert (elman.initial_names, elman.adjoint_names) == (("h0",), ("hs",))
    assert (lstm.initial_names, lstm.adjoint_names) == (("h0", "c0"), ("hs", "cs"))
    assert elman.grad_names == ("W_xh", "W_hh", "b", "h0", "xs", "hs")
    assert lstm.grad_names == ("W_x", "W_h", "b", "h0", "c0", "xs", "hs", "cs")
    assert gru.grad_names == ("W_x", "W_h", "b_x", "b_h", "h0", "xs", "hs")


# -- lookups -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["elman", "lstm", "gru"])
def test_get_cell_finds_each_cell(name):
    assert get_cell(name) is CELLS[name]


@pytest.mark.parametrize(("name", "shown"), [("rnn", "'rnn'"), ("", "''"), (["lstm"], "['lstm']")])
def test_an_unknown_cell_names_the_known_ones(name, shown):
    with _raises(f"unknown cell {shown}; known cells: elman, lstm, gru"):
        get_cell(name)


@pytest.mark.parametrize(
    ("names", "cell"),
    [
        (("W_xh", "W_hh", "b"), "elman"),
        (("b", "W_hh", "W_xh"), "elman"),  # order does not matter
        (["W_x", "W_h", "b"], "lstm"),
        (("b_h", "b_x", "W_h", "W_x"), "gru"),
        ({"W_x": 0, "W_h": 0, "b_x": 0, "b_h": 0}, "gru"),  # a mapping's keys
    ],
)
def test_the_parameter_names_say_the_cell(names, cell):
    assert cell_of_params(names) is CELLS[cell]
    assert cell_of_params(iter(names)) is CELLS[cell]  # any iterable, read once


@pytest.mark.parametrize(
    ("names", "shown"),
    [
        ((), "(none)"),
        (("W_x", "W_h"), "W_x, W_h"),  # a subset of the lstm's
        (("W_x", "W_h", "b", "b_x"), "W_x, W_h, b, b_x"),  # more than the lstm's
        (("W_xh", "W_h", "b"), "W_xh, W_h, b"),  # two cells' names mixed
    ],
)
def test_names_of_no_cell_are_refused_listing_every_cell(names, shown):
    with _raises(f"parameters named {shown} match no cell; expected {EXPECTED_NAMES}"):
        cell_of_params(names)


# -- activations ---------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "identity"])
def test_the_elman_cell_takes_every_activation(activation):
    assert check_activation(CELLS["elman"], activation) is None


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_a_gated_cell_takes_tanh_only(name):
    assert check_activation(CELLS[name], "tanh") is None
    for activation in ("relu", "sigmoid", "identity"):
        with _raises(
            f"cell {name!r} uses its fixed gate nonlinearities (sigmoid and tanh); "
            f"activation must be 'tanh', got {activation!r}"
        ):
            check_activation(CELLS[name], activation)


# -- FLOP counts ---------------------------------------------------------------------------------
# T = 2, B = 3, D = 4, H = 5: one step's GEMMs per gate are x_t W (3 x 4 by 4 x 5: 60
# multiply-adds) and h W (3 x 5 by 5 x 5: 75), so 135 multiply-adds = 270 FLOPs per gate and
# step; two steps: 540 per gate. The backward pass does two GEMMs per forward GEMM.
HAND_FLOPS = {"elman": (540, 1620), "lstm": (4 * 540, 4 * 1620), "gru": (3 * 540, 3 * 1620)}


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_flops_by_hand(cell):
    size = Size(T=2, B=3, D=4, H=5, cell=cell)
    assert (forward_flops(size), bptt_flops(size)) == HAND_FLOPS[cell]


def test_the_cell_argument_overrides_the_sizes_cell():
    size = Size(T=2, B=3, D=4, H=5, cell="lstm")
    assert (forward_flops(size, "gru"), bptt_flops(size, "gru")) == HAND_FLOPS["gru"]
    assert (forward_flops(size, "elman"), bptt_flops(size, "elman")) == HAND_FLOPS["elman"]


def test_sizes_without_a_cell_count_the_elman_cell():
    size = SimpleNamespace(T=2, B=3, D=4, H=5)
    assert (forward_flops(size), bptt_flops(size)) == HAND_FLOPS["elman"]
    assert forward_flops(size, "lstm") == HAND_FLOPS["lstm"][0]
