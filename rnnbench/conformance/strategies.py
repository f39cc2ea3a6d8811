"""Hypothesis strategies for problems: a pool of shapes, a seed, an initialisation, alpha.

Shapes come from a fixed pool that holds the edge cases (every size 1, T = 1, D != H,
B > H, ...) rather than from free integers: compiled backends (JAX) compile once per
shape, so a small pool lets the suite reuse compiled programs across examples and tests,
while seeds, alpha and the initialisation, which decide the values, are drawn freely.
"""

from __future__ import annotations

from hypothesis import strategies as st

from rnnbench.problems import INITS, Problem

#: (T, B, D, H) shapes every property draws from
SHAPES: tuple[tuple[int, int, int, int], ...] = (
    (1, 1, 1, 1),
    (1, 3, 2, 4),
    (2, 1, 3, 2),
    (3, 4, 1, 3),
    (5, 2, 3, 4),
    (7, 1, 6, 5),
    (8, 3, 5, 2),
    (12, 2, 4, 6),
)

seeds = st.integers(min_value=0, max_value=2**32 - 1)
alphas = st.floats(min_value=0.5, max_value=1.5, allow_nan=False, allow_infinity=False)


def problems(
    *,
    dtype: str,
    activation: str,
    max_T: int = 12,
    min_T: int = 1,
    init: st.SearchStrategy[str] | None = None,
    cotangent: str = "all",
    cell: str = "elman",
) -> st.SearchStrategy[Problem]:
    """Problems of the given cell, dtype and activation with a shape from ``SHAPES`` whose
    T lies in [min_T, max_T]."""
    shapes = [s for s in SHAPES if min_T <= s[0] <= max_T]
    if not shapes:
        raise ValueError(f"no shape in the pool has {min_T} <= T <= {max_T}")
    return st.builds(
        lambda shape, **fields: Problem(*shape, **fields),
        st.sampled_from(shapes),
        activation=st.just(activation),
        dtype=st.just(dtype),
        seed=seeds,
        init=init if init is not None else st.sampled_from(INITS),
        alpha=alphas,
        cotangent=st.just(cotangent),
        cell=st.just(cell),
    )


def cut_points(T: int) -> st.SearchStrategy[int]:
    """A step in [1, T - 1] from a few fixed choices (the first, the middle, the last), for
    truncation windows and split points; T >= 2."""
    return st.sampled_from(sorted({1, T // 2, T - 1}))
