"""The comparison rule, on values worked out by hand: normwise_error, error_scales, tolerance.

A looser rule would pass every agreement test of a correct backend, so these tests pin the
numbers themselves (exact where the arithmetic is exact in binary floating point).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnbench.interface import Grads
from rnnbench.problems import Problem, ProblemData
from rnnbench.tolerances import SAFETY_FACTOR, error_scales, normwise_error, tolerance

TINY32 = float(np.finfo(np.float32).tiny)  # 2**-126
TINY64 = float(np.finfo(np.float64).tiny)  # 2**-1022


# -- tolerance ---------------------------------------------------------------------------------
def test_tolerance_is_64_eps_sqrt_t():
    assert SAFETY_FACTOR == 64.0
    assert tolerance("float64", 1) == 64 * 2.0**-52
    assert tolerance("float32", 1) == 64 * 2.0**-23
    assert tolerance("float32", 4) == 64 * 2.0**-23 * 2  # sqrt(4) = 2
    assert tolerance("float64", 9) == 64 * 2.0**-52 * 3
    assert tolerance("float32", 1000) == pytest.approx(2.4e-4, rel=0.01)  # the docstring's figure


def test_tolerance_of_a_sequence_shorter_than_one_step_is_that_of_one_step():
    assert tolerance("float32", 0) == tolerance("float32", 1) == 64 * 2.0**-23


# -- normwise_error ----------------------------------------------------------------------------
REFERENCE = np.array([1.0, -8.0, 2.0])  # the largest magnitude is a negative entry
VALUE = np.array([1.5, -8.0, -1.0])  # differences 0.5, 0, -3: the largest is a negative one


def test_default_scale_is_the_largest_reference_magnitude():
    # max|value - reference| = |-1 - 2| = 3; max|reference| = |-8| = 8
    error = normwise_error(VALUE, REFERENCE)
    assert error == 3 / 8
    assert type(error) is float


def test_given_scale_replaces_the_default():
    assert normwise_error(VALUE, REFERENCE, scale=16.0) == 3 / 16
    assert normwise_error(VALUE, REFERENCE, scale=2.0) == 3 / 2  # smaller than max|ref| too


def test_equal_arrays_have_error_zero():
    assert normwise_error(REFERENCE, REFERENCE.copy()) == 0.0
    assert normwise_error(np.zeros(3), np.zeros(3)) == 0.0  # 0 / floor, not 0 / 0


def test_empty_arrays_agree():
    assert normwise_error(np.zeros(0), np.zeros(0)) == 0.0
    assert normwise_error(np.zeros((0, 3), np.float32), np.zeros((0, 3))) == 0.0


@pytest.mark.parametrize(
    ("value_shape", "reference_shape"),
    [((3,), (2,)), ((2,), (2, 1)), ((2, 3), (3, 2)), ((0, 2), (0, 3))],
)
def test_shape_mismatch_is_an_infinite_error(value_shape, reference_shape):
    # no broadcasting: (2,) against (2, 1) would otherwise compare 4 pairs
    assert normwise_error(np.ones(value_shape), np.ones(reference_shape)) == math.inf


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_against_a_finite_reference_is_an_infinite_error(bad):
    assert normwise_error(np.array([1.0, bad]), np.array([1.0, 2.0])) == math.inf
    assert normwise_error(np.array([1.0, bad]), np.array([1.0, 2.0]), scale=1e300) == math.inf


def test_a_float32_value_is_judged_against_at_least_the_smallest_float32_normal():
    # the reference underflows float32: a float32 zero is as close as float32 can get
    reference = np.array([1e-40, 0.0])
    value32 = np.zeros(2, np.float32)
    assert normwise_error(value32, reference) == 1e-40 / TINY32
    assert normwise_error(value32, reference) < 0.01
    # a float64 value has the float64 floor, far below the reference: the error is 1
    assert normwise_error(np.zeros(2), reference) == 1.0
    # a given scale below the floor is floored too; one above it is kept
    assert normwise_error(value32, reference, scale=0.0) == 1e-40 / TINY32
    assert normwise_error(value32, reference, scale=1e-30) == 1e-40 / 1e-30


def test_a_zero_reference_divides_by_the_floor_of_the_value_dtype():
    assert normwise_error(np.array([2.0**-1000]), np.zeros(1)) == 2.0**-1000 / TINY64
    assert normwise_error(np.array([2.0**-100], np.float32), np.zeros(1)) == 2.0**-100 / TINY32


def test_an_integer_value_gets_the_float64_floor():
    assert normwise_error(np.array([0, 0]), np.array([1e-300, 0.0])) == 1.0
    assert normwise_error([3, 4], [3.0, 2.0]) == 2 / 3  # lists are accepted as arrays


def test_float32_values_are_compared_in_float64():
    # in float32, 1 - 3e-8 rounds to 1 and the error would come out 1/3e-8
    small = float(np.float32(3e-8))
    error = normwise_error(np.array([1.0], np.float32), np.array([small], np.float32))
    assert error == (1.0 - small) / small


# -- error_scales ------------------------------------------------------------------------------
def _by_hand_problem(dhs, activation: str = "sigmoid") -> tuple[ProblemData, np.ndarray, Grads]:
    """T = 3, B = 1, D = 2, H = 2, sigmoid (gamma = 1/4) unless told; every entry chosen so
    that dropping an absolute value, a transpose, a term or a time step changes a result."""
    problem = Problem(T=3, B=1, D=2, H=2, activation=activation)
    data = ProblemData(
        problem=problem,
        params={
            "W_xh": np.array([[2.0, -1.0], [-0.5, 1.0]]),  # not symmetric: W_xh.T is visible
            "W_hh": np.array([[1.0, -2.0], [3.0, 0.5]]),
            "b": np.array([-1.0, 0.5]),
        },
        xs=np.array([[[-1.0, 2.0]], [[2.0, 0.0]], [[0.5, -1.0]]]),
        h0=np.array([[0.5, -1.0]]),
        dhs=np.array(dhs, dtype=float),
    )
    hs = np.array([[[0.5, -0.25]], [[-1.0, 0.75]], [[0.25, 0.5]]])
    zeros = {name: np.zeros(1) for name in ("W_xh", "W_hh", "b", "h0", "xs")}
    grads = Grads(hs=np.array([[[2.0, -4.0]], [[-1.0, 3.0]], [[1.0, -2.0]]]), **zeros)
    return data, hs, grads


NO_COTANGENT = np.zeros((3, 1, 2))


def test_error_scales_by_hand():
    """delta_t = gamma |dL/dh_t| = [.5, 1], [.25, .75], [.25, .5];
    h_prev = |h0|, |h_1|, |h_2| = [.5, 1], [.5, .25], [1, .75].

    unroll: |h_t| + gamma (|x_t||W_xh| + h_prev |W_hh| + |b|), the largest at t=1:
        [1, .75] + ([4, 2] + [1.25, 1.125] + [1, .5]) / 4 = [2.5625, 1.65625]
        (t=0: [2.375, 1.5]; t=2: [1.6875, 1.59375])
    W_xh: sum_t |x_t|^T delta_t = [[.5, 1], [1, 2]] + [[.5, 1.5], [0, 0]] + [[.125, .25], [.25, .5]]
          = [[1.125, 2.75], [1.25, 2.5]]
    W_hh: sum_t h_prev^T delta_t = [[.25, .5], [.5, 1]] + [[.125, .375], [.0625, .1875]]
          + [[.25, .5], [.1875, .375]] = [[.625, 1.375], [.75, 1.5625]]
    b:    sum_t delta_t = [1, 2.25]
    h0:   delta_0 |W_hh|^T = [.5, 1] [[1, 3], [2, .5]] = [2.5, 2]
    xs:   delta_t |W_xh|^T, |W_xh|^T = [[2, .5], [1, 1]]: [2, 1.25], [1.25, .875], [1, .625]
    hs:   |dhs_t| + delta_(t+1) |W_hh|^T for t < T-1, at least |dL/dh_t|:
        delta_1 |W_hh|^T = [1.75, 1.125], delta_2 |W_hh|^T = [1.25, 1]
        t=0: [3, 1] + [1.75, 1.125] = [4.75, 2.125] (|dL/dh_0| = [2, 4] is larger in H)
        t=1: [1, 2] + [1.25, 1] = [2.25, 3]; t=2: [.5, 1]
    """
    data, hs, grads = _by_hand_problem([[[3, -1]], [[-1, 2]], [[0.5, 1]]])
    assert error_scales(data, hs, grads) == {
        "unroll": 2.5625,
        "W_xh": 2.75,
        "W_hh": 1.5625,
        "b": 2.25,
        "h0": 2.5,
        "xs": 2.0,
        "hs": 4.75,
    }


def test_the_adjoint_scale_is_at_least_the_adjoint_itself():
    # with dhs = 0 the summed terms are [1.75, 1.125], [1.25, 1], 0: below |dL/dh_0| = 4
    data, hs, grads = _by_hand_problem(NO_COTANGENT)
    assert error_scales(data, hs, grads)["hs"] == 4.0


def test_error_scales_of_a_zero_problem_are_zero():
    data, hs, grads = _by_hand_problem(NO_COTANGENT)
    zero = data.with_arrays(**{name: np.zeros_like(a) for name, a in data.arrays().items()})
    zero_grads = Grads(**{name: np.zeros_like(g) for name, g in grads.items()})
    assert set(error_scales(zero, np.zeros_like(hs), zero_grads).values()) == {0.0}


def test_the_tanh_slope_bound_is_one():
    data, hs, grads = _by_hand_problem(NO_COTANGENT, activation="tanh")
    # gamma = 1: b's scale is sum_t |dL/dh_t| = [4, 9]
    assert error_scales(data, hs, grads)["b"] == 9.0
