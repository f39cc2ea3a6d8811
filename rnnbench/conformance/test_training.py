"""Gradient descent follows the reference's loss trajectory on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.cells import CELL_NAMES
from rnnbench.reference import reference_backend
from rnnbench.tolerances import tolerance
from rnnbench.train import TrainConfig, loss_trajectory

from .support import DTYPES, require

STEPS = 12
VARIANTS = {
    "sgd": {},
    "clipped": {"clip": 0.05},
    "truncated": {"truncate": 3},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", CELL_NAMES)
def test_training_follows_the_reference_loss_trajectory(rnnbench_backend, cell, dtype, variant):
    activation = (
        "tanh"
        if "tanh" in rnnbench_backend.activations
        else sorted(rnnbench_backend.activations)[0]
    )
    require(
        rnnbench_backend,
        dtype=dtype,
        activation=activation,
        truncation=variant == "truncated",
        cell=cell,
    )
    config = TrainConfig(
        task="adding",
        lag=6,
        batch=4,
        hidden=5,
        activation=activation,
        alpha=1.0,
        lr=0.5,
        dtype=dtype,
        seed=11,
        cell=cell,
        **VARIANTS[variant],
    )
    expected = loss_trajectory(reference_backend(), config.with_(dtype="float64"), STEPS)
    got = loss_trajectory(rnnbench_backend, config, STEPS)
    error = np.abs(got - expected) / np.abs(expected)
    tol = tolerance(dtype, config.lag * STEPS)
    assert np.all(error <= tol), (
        f"loss trajectory of {rnnbench_backend.name!r} ({variant}, {dtype}) leaves the "
        f"reference's at step {int(np.argmax(~(error <= tol)))}: relative errors "
        f"{error.tolist()} > {tol:.1e}\n"
        f"  config: {config!r}"
    )
