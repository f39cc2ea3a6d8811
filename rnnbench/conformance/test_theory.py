"""The mathematics of gradient decay, checked on every backend's per-step adjoints."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnbench.activations import GAMMA
from rnnbench.decay import decay_curve, pascanu_rate
from rnnbench.problems import Problem, make_data
from rnnbench.tolerances import tolerance

from .assertions import reproduction
from .strategies import problems
from .support import BPTT_CALL, DTYPES, bptt, require

#: the exact-decay identity is held to 1e-12 relative in float64
EXACT_DECAY_RTOL = {"float64": 1e-12}


def exact_decay_rtol(dtype: str, T: int) -> float:
    return EXACT_DECAY_RTOL.get(dtype, tolerance(dtype, T))


def check_exact_decay(backend, problem):
    """||dL/dh_(T-k)|| / ||dL/dh_T|| == alpha**k for the identity cell with W_hh = alpha Q."""
    g = bptt(backend, problem)
    curve = decay_curve(g.hs)
    k = np.arange(problem.T)
    expected = problem.alpha**k
    rel = np.abs(curve.ratios - expected) / expected
    worst = int(np.argmax(rel))
    rtol = exact_decay_rtol(problem.dtype, problem.T)
    assert rel[worst] <= rtol, (
        f"decay ratio at k={worst} is {curve.ratios[worst]!r}, expected alpha**k = "
        f"{expected[worst]!r} (relative error {rel[worst]:.3e} > {rtol:.1e})\n"
        + reproduction(backend, problem, BPTT_CALL.format(a="identity", k=None))
    )


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_identity_orthogonal_decay_is_exactly_alpha_power(rnnbench_backend, dtype, data):
    require(rnnbench_backend, dtype=dtype, activation="identity", adjoint="hs")
    problem = data.draw(
        problems(dtype=dtype, activation="identity", init=st.just("orthogonal"), cotangent="last"),
        label="problem",
    )
    check_exact_decay(rnnbench_backend, problem)


@pytest.mark.parametrize("alpha", [0.9, 1.0, 1.1])
def test_exact_decay_over_a_long_sequence(rnnbench_backend, alpha):
    """alpha below, at and above 1 over 120 steps, in float64."""
    require(rnnbench_backend, dtype="float64", activation="identity", adjoint="hs")
    problem = Problem(
        T=120,
        B=2,
        D=4,
        H=6,
        activation="identity",
        dtype="float64",
        seed=3,
        init="orthogonal",
        alpha=alpha,
        cotangent="last",
    )
    check_exact_decay(rnnbench_backend, problem)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@given(data=st.data())
def test_adjoints_obey_pascanu_bound(rnnbench_backend, dtype, activation, data):
    """||dL/dh_(T-k)|| <= (gamma * s)**k ||dL/dh_T||, gamma = sup|f'|, s = ||W_hh||_2."""
    require(rnnbench_backend, dtype=dtype, activation=activation, adjoint="hs")
    problem = data.draw(
        problems(dtype=dtype, activation=activation, cotangent="last").map(
            lambda p: p.with_(alpha=p.alpha * 4)
        ),
        label="problem",
    )
    g = bptt(rnnbench_backend, problem)
    ratios = decay_curve(g.hs).ratios
    rate = pascanu_rate(activation, make_data(problem).W_hh.astype(np.float64))
    bound = rate ** np.arange(problem.T)
    slack = 1 + tolerance(dtype, problem.T)
    over = ratios > bound * slack
    assert not np.any(over), (
        f"Pascanu bound broken at k={np.flatnonzero(over).tolist()} (gamma={GAMMA[activation]}, "
        f"gamma*s={rate:.4f}): ratios {ratios[over]} > bound {bound[over]}\n"
        + reproduction(rnnbench_backend, problem, BPTT_CALL.format(a=activation, k=None))
    )
