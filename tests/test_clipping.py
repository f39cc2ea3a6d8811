"""Global-norm clipping: the bound holds, the direction is kept, small gradients are untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnbench.clipping import clip_by_global_norm, global_norm, rounding_margin


def _gradients(dtype: str) -> st.SearchStrategy[list[np.ndarray]]:
    elements = st.floats(-1e6, 1e6, width=32 if dtype == "float32" else 64)
    array = hnp.arrays(
        dtype, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5), elements=elements
    )
    return st.lists(array, min_size=1, max_size=4)


def _common_factor(clipped: list[np.ndarray], grads: list[np.ndarray]) -> float:
    """The single factor s with clipped == s * grads for every array (asserted). Its sums
    are exact (``math.fsum``) over terms >= 0 (clipped entries keep their sign), so s is off
    by a few float64 roundings whatever the number of entries; ``np.dot`` would add one per
    entry."""
    flat_c = np.concatenate([np.ravel(c).astype(np.float64) for c in clipped])
    flat_g = np.concatenate([np.ravel(g).astype(np.float64) for g in grads])
    factor = math.fsum(flat_c * flat_g) / math.fsum(flat_g * flat_g)
    eps = max(np.finfo(g.dtype).eps for g in grads)
    scale = float(np.max(np.abs(flat_g)))
    np.testing.assert_allclose(flat_c, factor * flat_g, rtol=0, atol=4 * eps * scale * factor)
    return factor


@settings(max_examples=200, deadline=None)
@given(
    dtype=st.sampled_from(["float32", "float64"]),
    data=st.data(),
    max_norm=st.floats(1e-3, 1e3),
)
def test_clipped_norm_is_bounded_and_direction_kept(dtype, data, max_norm):
    grads = data.draw(_gradients(dtype), label="grads")
    clipped, norm = clip_by_global_norm(grads, max_norm)
    assert math.isclose(norm, global_norm(grads), rel_tol=1e-12)
    assert global_norm(clipped) <= max_norm
    assert [c.dtype for c in clipped] == [g.dtype for g in grads]
    assert [c.shape for c in clipped] == [g.shape for g in grads]
    if norm > max_norm:
        factor = _common_factor(clipped, grads)
        assert factor == pytest.approx(max_norm / norm, rel=1e-5)
    else:
        assert all(c is g for c, g in zip(clipped, grads, strict=True))


def test_direction_is_shared_across_arrays():
    """A per-array clip would scale these two arrays by different factors; ours may not."""
    grads = {"big": np.array([30.0, 40.0]), "small": np.array([0.3, 0.4])}
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == pytest.approx(math.sqrt(50**2 + 0.5**2))
    ratios = [clipped[k] / grads[k] for k in grads]
    np.testing.assert_allclose(np.concatenate(ratios), 1.0 / norm, rtol=1e-12)
    assert global_norm(clipped) <= 1.0
    assert global_norm(clipped) == pytest.approx(1.0, rel=1e-12)


def test_gradient_under_the_bound_is_returned_untouched():
    grads = {"a": np.array([0.1, -0.2], np.float32), "b": np.zeros((2, 2))}
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == pytest.approx(math.sqrt(0.05), rel=1e-6)
    assert all(clipped[k] is grads[k] for k in grads)


def test_gradient_exactly_at_the_bound_is_untouched():
    grads = [np.array([3.0, 4.0])]
    clipped, norm = clip_by_global_norm(grads, 5.0)
    assert norm == 5.0
    assert clipped[0] is grads[0]


def test_non_finite_gradient_comes_back_untouched_with_its_norm():
    grads = [np.array([1.0, np.inf])]
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == math.inf
    assert clipped[0] is grads[0]
    _, nan_norm = clip_by_global_norm([np.array([np.nan, 1.0])], 1.0)
    assert math.isnan(nan_norm)


def test_global_norm_neither_overflows_nor_underflows():
    assert global_norm([np.array([3e200, 4e200])]) == pytest.approx(5e200)
    assert global_norm([np.array([3e-200]), np.array([4e-200])]) == pytest.approx(5e-200, abs=0)
    assert global_norm([np.array([3.0]), np.array([[4.0]])]) == 5.0
    assert global_norm([]) == 0.0
    assert global_norm({"empty": np.zeros(0), "zero": np.zeros(3)}) == 0.0


def test_a_sequence_comes_back_as_a_list_and_a_mapping_as_a_dict():
    clipped_list, _ = clip_by_global_norm((np.array([3.0, 4.0]),), 1.0)
    clipped_dict, _ = clip_by_global_norm({"w": np.array([3.0, 4.0])}, 1.0)
    assert isinstance(clipped_list, list)
    np.testing.assert_allclose(clipped_list[0], [0.6, 0.8])
    assert list(clipped_dict) == ["w"]
    np.testing.assert_allclose(clipped_dict["w"], [0.6, 0.8])


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan, "1"])
def test_bound_must_be_a_positive_finite_number(bad):
    with pytest.raises(ValueError, match="max_norm"):
        clip_by_global_norm([np.ones(2)], bad)


def _mixed_gradients() -> st.SearchStrategy[list[np.ndarray]]:
    def array(dtype: str) -> st.SearchStrategy[np.ndarray]:
        width = 32 if dtype == "float32" else 64
        elements = st.floats(-1e6, 1e6, width=width)
        shapes = hnp.array_shapes(min_dims=1, max_dims=2, max_side=5)
        return hnp.arrays(dtype, shapes, elements=elements)

    one = st.sampled_from(["float32", "float64"]).flatmap(array)
    return st.lists(one, min_size=2, max_size=5)


@settings(max_examples=200, deadline=None)
@given(grads=_mixed_gradients(), max_norm=st.floats(1e-3, 1e3))
def test_mixed_float32_and_float64_gradients_are_clipped_in_one_pass(grads, max_norm):
    clipped, norm = clip_by_global_norm(grads, max_norm)
    assert global_norm(clipped) <= max_norm
    assert [c.dtype for c in clipped] == [g.dtype for g in grads]
    if norm > max_norm:
        factor = _common_factor(clipped, grads)
        # one float32 rounding at most: the factor is within a few float32 ulps of c / norm
        assert 1 - 1e-6 <= factor * norm / max_norm <= 1


def test_float32_rounding_up_is_absorbed_by_the_margin():
    """0.6 and 0.8 round up in float32 (to 0.6000000238... and 0.800000011...): scaled by
    exactly 1 / norm, the clipped float32 norm would be 1.0000000...2 > 1."""
    grads = [np.array([3.0, 4.0], np.float32), np.array([0.0])]
    assert global_norm([np.float32(0.6), np.float32(0.8)]) > 1.0
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == 5.0
    assert global_norm(clipped) <= 1.0
    np.testing.assert_allclose(clipped[0], [0.6, 0.8], rtol=2e-7)


def test_the_margin_is_a_few_roundings_of_the_coarsest_dtype():
    u32, u64 = 2.0**-24, 2.0**-53
    # float64 only, n = 2 entries in k = 1 array: eta = (n + k + 6) u64 = 9 u64,
    # e = u + 2 eta + 5 u64 = 24 u64, m = 2 (e + u64) = 50 u64
    assert rounding_margin([np.zeros(2)], 1.0) / u64 == pytest.approx(50, rel=1e-12)
    # a float32 array raises u from u64 to u32; n = 3, k = 2: eta = 11 u64, e = u32 + 27 u64
    margin = rounding_margin([np.zeros(2), np.zeros(1, np.float32)], 1.0)
    assert margin == pytest.approx(2 * u32 + 2 * (2 * 11 + 6) * u64, rel=1e-12, abs=0)
    # n = 4, k = 1: eta = 11 u64 again, and the subnormal term 4 sqrt(n) u32 tiny32 / c
    tiny32 = float(np.finfo(np.float32).smallest_normal)
    assert rounding_margin([np.zeros(4, np.float32)], 1e-40) == pytest.approx(
        2 * u32 + 2 * (2 * 11 + 6) * u64 + 4 * 2 * u32 * tiny32 / 1e-40, rel=1e-12, abs=0
    )


@pytest.mark.parametrize("max_norm", [1e-44, 3e-45, 1e-46])
def test_a_bound_at_the_float32_subnormal_scale_is_kept(max_norm):
    grads = [np.array([3e-40, -4e-40], np.float32)]
    clipped, norm = clip_by_global_norm(grads, max_norm)
    assert norm == pytest.approx(5e-40, rel=1e-6, abs=0)
    assert global_norm(clipped) <= max_norm
    assert clipped[0].dtype == np.float32
    if max_norm < 1.4e-45 / 2:  # below half the smallest subnormal: only zeros fit
        assert not clipped[0].any()


def test_huge_gradients_are_clipped_to_a_tiny_bound_without_underflowing_the_factor():
    # c / norm = 7e-319 is a float64 subnormal; dividing by the norm first avoids it
    grads = {"a": np.array([1e308, -1e308]), "b": np.array([3e38], np.float32)}
    clipped, norm = clip_by_global_norm(grads, 1e-10)
    assert norm == pytest.approx(1e308 * np.sqrt(2))
    assert global_norm(clipped) <= 1e-10
    expected = [1e-10 / np.sqrt(2), -1e-10 / np.sqrt(2)]
    np.testing.assert_allclose(clipped["a"], expected, rtol=3e-7)


def test_many_entries_are_clipped_in_one_pass():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(100_000).astype(np.float32), rng.standard_normal(1000)]
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == pytest.approx(np.sqrt(101_000), rel=0.02)
    assert global_norm(clipped) <= 1.0
    assert global_norm(clipped) == pytest.approx(1.0, rel=1e-6)
