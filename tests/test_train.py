"""Training: the tasks, the gradient of the readout loss, the SGD loop and its failure modes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rnnbench.registry import get_backend
from rnnbench.tolerances import tolerance
from rnnbench.train import (
    BASELINE_LOSS,
    SCENARIOS,
    TrainConfig,
    initial_params,
    loss_and_grads,
    loss_trajectory,
    task_batch,
    train,
)


@pytest.fixture(scope="module")
def numpy_backend():
    return get_backend("numpy")


def test_recall_target_is_the_first_input():
    xs, targets = task_batch("recall", np.random.default_rng(0), T=6, B=5)
    assert xs.shape == (6, 5, 1)
    np.testing.assert_array_equal(targets, xs[0, :, 0])
    assert not xs[1:].any()


def test_adding_target_is_the_standardised_sum_of_the_two_marked_values():
    xs, targets = task_batch("adding", np.random.default_rng(1), T=10, B=7)
    assert xs.shape == (10, 7, 2)
    markers = xs[:, :, 1]
    assert (markers.sum(0) == 2).all()
    assert markers[:5].sum(0).tolist() == [1] * 7  # one mark in each half
    marked = (xs[:, :, 0] * markers).sum(0)
    np.testing.assert_allclose(targets, (marked - 1.0) * np.sqrt(6.0))


def test_adding_targets_have_unit_variance_so_the_baseline_is_one_half():
    _, targets = task_batch("adding", np.random.default_rng(2), T=20, B=20000)
    assert abs(np.mean(targets)) < 0.05
    assert 0.5 * np.var(targets) == pytest.approx(BASELINE_LOSS, rel=0.05)


@pytest.mark.parametrize("task", ["recall", "adding"])
def test_gradients_match_finite_differences(numpy_backend, task):
    """Central differences of the loss in float64 against loss_and_grads, every parameter."""
    config = TrainConfig(task=task, lag=6, batch=3, hidden=4, dtype="float64", alpha=1.2)
    params = initial_params(config)
    xs, targets = task_batch(task, np.random.default_rng(3), config.lag, config.batch)
    _, grads = loss_and_grads(numpy_backend, params, xs, targets, config)
    h = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[name][index] += h
            up = loss_and_grads(numpy_backend, shifted, xs, targets, config)[0]
            shifted[name][index] -= 2 * h
            down = loss_and_grads(numpy_backend, shifted, xs, targets, config)[0]
            numeric[index] = (up - down) / (2 * h)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-9, err_msg=name)


def test_truncation_of_one_step_cuts_the_first_input_off(numpy_backend):
    """Recall: the first input reaches the loss only through lag - 1 cells, so with a window
    of one cell W_xh gets no gradient at all."""
    config = TrainConfig(lag=5, batch=4, hidden=3, dtype="float64", truncate=1)
    xs, targets = task_batch("recall", np.random.default_rng(4), config.lag, config.batch)
    _, grads = loss_and_grads(numpy_backend, initial_params(config), xs, targets, config)
    assert not grads["W_xh"].any()
    assert grads["W_hh"].any()


def test_same_seed_same_trajectory_other_seed_other_trajectory(numpy_backend):
    config = TrainConfig(lag=8, batch=8, hidden=8)
    first = loss_trajectory(numpy_backend, config, 15)
    again = loss_trajectory(numpy_backend, config, 15)
    other = loss_trajectory(numpy_backend, config.with_(seed=1), 15)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_float32_follows_the_float64_trajectory(numpy_backend):
    """Same data and start in both precisions: the losses agree to the suite's float32
    tolerance over the first steps."""
    config = TrainConfig(lag=10, batch=8, hidden=8)
    low = loss_trajectory(numpy_backend, config, 10)
    high = loss_trajectory(numpy_backend, config.with_(dtype="float64"), 10)
    np.testing.assert_allclose(low, high, rtol=tolerance("float32", config.lag))


def test_sgd_reduces_the_loss_on_a_short_lag(numpy_backend):
    result = train(numpy_backend, SCENARIOS["short-lag"].config, 200)
    assert result.diverged_at is None
    assert result.outcome().startswith("learned")
    assert result.final_loss < 0.2 * BASELINE_LOSS


def test_learning_stalls_on_a_long_lag_with_tanh(numpy_backend):
    result = train(numpy_backend, SCENARIOS["long-lag"].config, 150)
    assert result.diverged_at is None
    assert result.outcome().startswith("stalled")


def test_exploding_gradient_diverges_without_clipping_and_is_reported(numpy_backend):
    result = train(numpy_backend, SCENARIOS["exploding"].config, 20)
    assert result.diverged_at is not None
    assert result.outcome() == f"diverged at step {result.diverged_at}"
    assert np.isfinite(result.losses[: result.diverged_at]).all()
    assert np.isnan(result.losses[result.diverged_at + 1 :]).all()


def test_clipping_tames_the_exploding_gradient(numpy_backend):
    config = SCENARIOS["exploding-clipped"].config
    result = train(numpy_backend, config, 200)
    assert result.diverged_at is None
    assert result.grad_norms[0] > 1e3 * config.clip  # it really was clipped
    assert result.outcome().startswith("learned")


def test_each_update_is_at_most_lr_times_the_clip(numpy_backend, monkeypatch):
    """The step SGD takes after clipping: ||delta params|| <= lr * clip."""
    import rnnbench.train as train_module

    config = SCENARIOS["exploding-clipped"].config
    snapshots = []
    original = train_module.loss_and_grads

    def spy(backend, params, *args):
        snapshots.append({k: v.astype(np.float64) for k, v in params.items()})
        return original(backend, params, *args)

    monkeypatch.setattr(train_module, "loss_and_grads", spy)
    train(numpy_backend, config, 4)
    for before, after in itertools.pairwise(snapshots):
        step = np.sqrt(sum(np.sum((after[k] - before[k]) ** 2) for k in before))
        assert step <= config.lr * config.clip * (1 + 1e-5)


@pytest.mark.parametrize(
    "changes",
    [{"task": "copy"}, {"lr": 0.0}, {"clip": -1.0}, {"lag": 0}, {"task": "adding", "lag": 1}],
)
def test_bad_configs_are_refused(changes):
    with pytest.raises(ValueError):
        TrainConfig(**changes)


def test_steps_must_be_positive(numpy_backend):
    with pytest.raises(ValueError, match="steps"):
        train(numpy_backend, TrainConfig(), 0)
