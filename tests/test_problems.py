"""The Problem value and the seeded data source."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnbench.errors import InputError
from rnnbench.presets import Size
from rnnbench.problems import Problem, make_data, orthogonal
from rnnbench.reference import reference_grads, reference_hs
from rnnbench.tolerances import normwise_error, tolerance

#: the elman cell's arrays, in the order ``ProblemData.arrays`` gives them
ELMAN_ARRAYS = ("W_xh", "W_hh", "b", "xs", "h0", "dhs")


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


def test_the_draws_come_in_a_fixed_order_with_fixed_scales():
    """With every size 1, each array is one draw: W_xh, W_hh, b, xs, h0, dhs in that order,
    scaled by 1/sqrt(D), alpha/sqrt(H), 0.1, 1, 0.5 and 1."""
    z = np.random.default_rng(7).standard_normal(6)
    d = make_data(Problem(T=1, B=1, D=1, H=1, seed=7, alpha=2.5))
    drawn = [d.W_xh, d.W_hh, d.b, d.xs, d.h0, d.dhs]
    assert [a.item() for a in drawn] == [z[0], 2.5 * z[1], 0.1 * z[2], z[3], 0.5 * z[4], z[5]]


#: every array's standard deviation (all are centred normal draws)
SCALES = {
    "W_xh": 1 / math.sqrt(100),
    "W_hh": 1.5 / math.sqrt(400),
    "b": 0.1,
    "xs": 1.0,
    "h0": 0.5,
    "dhs": 1.0,
}


def test_the_distribution_of_every_array():
    """Sample means and standard deviations against the documented ones: with at least 400
    draws per array the sample deviation is within 4 standard errors, 4/sqrt(2n) <= 15 %."""
    d = make_data(Problem(T=8, B=50, D=100, H=400, alpha=1.5, seed=1))
    for name, scale in SCALES.items():
        array = getattr(d, name)
        n = array.size
        assert abs(array.std() / scale - 1) < 4 / math.sqrt(2 * n), name
        assert abs(array.mean()) < 4 * scale / math.sqrt(n), name


def test_biases_and_initial_states_are_nonzero_in_every_entry():
    d = make_data(Problem(B=16, H=64))
    assert np.all(d.b != 0) and np.all(d.h0 != 0)
    assert np.all(np.any(d.dhs != 0, axis=(1, 2)))  # cotangent "all": every step has one


@pytest.mark.parametrize("dropped", ["b", "h0"])
def test_a_backend_dropping_the_bias_or_the_initial_state_could_not_pass(dropped):
    """On the default problem, zeroing b or h0 moves the forward states and the gradients
    by far more than the float32 tolerance: agreement tests see such a backend."""
    data = make_data(Problem(dtype="float64"))
    broken = data.with_arrays(**{dropped: np.zeros_like(data.arrays()[dropped])})
    allowed = tolerance("float32", data.problem.T)
    assert normwise_error(reference_hs(broken), reference_hs(data)) > 100 * allowed
    wrong, right = reference_grads(broken), reference_grads(data)
    assert normwise_error(wrong.W_hh, right.W_hh) > 100 * allowed


@pytest.mark.parametrize("n", [1, 2, 5])
def test_orthogonal_is_the_q_of_a_qr_with_positive_diagonal(n):
    """Q with Q^T M upper triangular and positive on the diagonal, for the matrix M drawn
    from the same seed: the unique such Q, which is Haar distributed (the sign fix)."""
    M = np.random.default_rng(3).standard_normal((n, n))
    Q = orthogonal(np.random.default_rng(3), n)
    np.testing.assert_allclose(Q.T @ Q, np.eye(n), atol=1e-14)
    R = Q.T @ M
    np.testing.assert_allclose(np.tril(R, -1), 0.0, atol=1e-13)
    assert np.all(np.diag(R) > 0)


def test_astype_casts_every_array_and_the_problem():
    d32 = make_data(Problem(T=2, B=1, D=2, H=3, dtype="float64", seed=4)).astype("float32")
    assert d32.problem == Problem(T=2, B=1, D=2, H=3, dtype="float32", seed=4)
    assert list(d32.arrays()) == list(ELMAN_ARRAYS)
    assert [a.dtype for a in d32.arrays().values()] == [np.float32] * 6
