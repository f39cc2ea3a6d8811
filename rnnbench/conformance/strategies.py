"""Hypothesis strategies for problems: small bounded sizes, a seed, an initialisation."""

from __future__ import annotations

from hypothesis import strategies as st

from rnnbench.problems import INITS, Problem

seeds = st.integers(min_value=0, max_value=2**32 - 1)
alphas = st.floats(min_value=0.5, max_value=1.5, allow_nan=False, allow_infinity=False)


def problems(
    *,
    dtype: str,
    activation: str,
    max_T: int = 12,
    max_size: int = 6,
    min_T: int = 1,
    init: st.SearchStrategy[str] | None = None,
    cotangent: str = "all",
) -> st.SearchStrategy[Problem]:
    """Problems of the given dtype and activation with T in [min_T, max_T] and B, D, H in
    [1, max_size]."""
    sizes = st.integers(min_value=1, max_value=max_size)
    return st.builds(
        Problem,
        T=st.integers(min_value=min_T, max_value=max_T),
        B=sizes,
        D=sizes,
        H=sizes,
        activation=st.just(activation),
        dtype=st.just(dtype),
        seed=seeds,
        init=init if init is not None else st.sampled_from(INITS),
        alpha=alphas,
        cotangent=st.just(cotangent),
    )
