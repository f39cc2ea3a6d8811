"""The Problem value and the seeded data source."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnbench.errors import InputError
from rnnbench.presets import Size
from rnnbench.problems import Problem, make_data


def test_same_seed_gives_bit_identical_data():
    a, b = make_data(Problem(seed=5)), make_data(Problem(seed=5))
    for name, array in a.arrays().items():
        assert np.array_equal(array, b.arrays()[name])
    assert not np.array_equal(a.xs, make_data(Problem(seed=6)).xs)


def test_shapes_and_dtype():
    p = Problem(T=3, B=2, D=4, H=5, dtype="float32")
    d = make_data(p)
    shapes = {
        "W_xh": (4, 5),
        "W_hh": (5, 5),
        "b": (5,),
        "xs": (3, 2, 4),
        "h0": (2, 5),
        "dhs": (3, 2, 5),
    }
    for name, shape in shapes.items():
        assert getattr(d, name).shape == shape
        assert getattr(d, name).dtype == np.float32


@pytest.mark.parametrize(
    ("cell", "shapes"),
    [
        ("lstm", {"W_x": (4, 20), "W_h": (5, 20), "b": (20,), "h0": (2, 5), "c0": (2, 5)}),
        ("gru", {"W_x": (4, 15), "W_h": (5, 15), "b_x": (15,), "b_h": (15,), "h0": (2, 5)}),
    ],
)
def test_gated_cells_draw_their_own_parameters(cell, shapes):
    d = make_data(Problem(T=3, B=2, D=4, H=5, cell=cell, init="orthogonal", alpha=0.7))
    arrays = d.arrays()
    assert {name: a.shape for name, a in arrays.items() if name in shapes} == shapes
    assert set(arrays) == {*shapes, "xs", "dhs"}
    for block in np.split(d.W_h, shapes["W_h"][1] // 5, axis=1):
        assert np.allclose(np.linalg.svd(block, compute_uv=False), 0.7, rtol=1e-13)


def test_elman_data_is_unchanged_by_the_cell_field():
    """The elman draws are those of every earlier version: a gated cell adds, never moves."""
    d = make_data(Problem(T=3, B=2, D=4, H=5, seed=9))
    rng = np.random.default_rng(9)
    assert np.array_equal(d.W_xh, rng.standard_normal((4, 5)) / math.sqrt(4))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cell_takes_only_tanh(cell):
    with pytest.raises(InputError, match=f"cell '{cell}'.*activation must be 'tanh'"):
        Problem(cell=cell, activation="relu")


def test_unknown_cell_is_named():
    with pytest.raises(InputError, match="unknown cell 'rnn'; known cells: elman, lstm, gru"):
        Problem(cell="rnn")


def test_float32_data_is_the_float64_data_rounded():
    d64 = make_data(Problem(dtype="float64", seed=2))
    d32 = make_data(Problem(dtype="float32", seed=2))
    assert np.array_equal(d32.W_hh, d64.W_hh.astype(np.float32))
    assert np.array_equal(d32.astype("float64").xs, d32.xs.astype(np.float64))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.7])
def test_orthogonal_init_has_every_singular_value_alpha(alpha):
    d = make_data(Problem(H=7, init="orthogonal", alpha=alpha))
    assert np.allclose(np.linalg.svd(d.W_hh, compute_uv=False), alpha, rtol=1e-13)


def test_last_step_cotangent_is_zero_before_the_last_step():
    d = make_data(Problem(T=4, cotangent="last"))
    assert not d.dhs[:-1].any() and d.dhs[-1].all()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("T", 0),
        ("B", -1),
        ("D", 2.5),
        ("H", True),
        ("activation", "softplus"),
        ("dtype", "float16"),
        ("alpha", math.nan),
        ("alpha", math.inf),
        ("alpha", 0.0),
        ("init", "xavier"),
        ("seed", -3),
        ("cotangent", "first"),
    ],
)
def test_invalid_field_is_named(field, value):
    with pytest.raises(ValueError, match=f"Problem.{field}"):
        Problem(**{field: value})


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3"])
def test_problem_and_size_check_their_dimensions_alike(value):
    with pytest.raises(InputError, match=rf"^Problem\.D must be an integer >= 1, got {value!r}$"):
        Problem(D=value)
    with pytest.raises(InputError, match=rf"^size D must be an integer >= 1, got {value!r}$"):
        Size(T=1, B=1, D=value, H=1)
