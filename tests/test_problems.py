"""The Problem value and the seeded data source."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnbench.errors import InputError
from rnnbench.presets import Size
from rnnbench.problems import ARRAY_NAMES, Problem, make_data


def test_same_seed_gives_bit_identical_data():
    a, b = make_data(Problem(seed=5)), make_data(Problem(seed=5))
    for name in ARRAY_NAMES:
        assert np.array_equal(getattr(a, name), getattr(b, name))
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
