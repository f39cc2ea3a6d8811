"""Gradient descent on a long-range task, written once for every backend.

Model: the backend's recurrent network over xs (T, B, D) from h0 = 0, then a linear readout
in NumPy, ``y = h_T @ w_out + c`` (w_out (H,), c scalar), and the loss
``0.5 * mean((y - target)**2)``. Per step: ``unroll`` gives h_T; the loss gradient w.r.t.
h_T, ``dy[:, None] * w_out`` (B, H), becomes ``dhs`` (T, B, H), zero except the last step;
``bptt`` gives the network's gradients; plain SGD updates everything in NumPy, after
optional global-norm clipping. Conversion to and from native arrays happens every step
(training is not timed).

Tasks (targets have variance 1, so predicting the mean scores a loss of 0.5):
``recall``: D = 1; x_0 ~ N(0, 1), the other inputs are 0; the target is x_0, recalled
after T - 1 steps (the lag). ``adding``: D = 2; channel 0 holds U(0, 1) values, channel 1
marks one step in the first half and one in the second; the target is the sum of the two
marked values, standardised.

Every array is drawn from the config's seed in NumPy, so all backends see the same data and
start from the same parameters (``make_data`` of the matching Problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from rnnbench.clipping import clip_by_global_norm, global_norm
from rnnbench.interface import Backend, Params
from rnnbench.problems import Problem, make_data

TASKS: tuple[str, ...] = ("recall", "adding")
#: the readout's parameters, trained in NumPy beside the backend's network
READOUT: tuple[str, ...] = ("w_out", "c")
TASK_INPUTS: dict[str, int] = {"recall": 1, "adding": 2}
#: loss of the best constant prediction (the targets' variance is 1)
BASELINE_LOSS = 0.5
#: final loss (mean of the last tenth of the steps) over the baseline: below LEARNED the
#: task is learned, above STALLED learning stalled, in between it is partly learned
LEARNED_FRACTION = 0.2
STALLED_FRACTION = 0.8


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``lag`` is the sequence length T; ``clip`` the global-norm bound
    (None: no clipping); ``truncate`` the BPTT window (None: full BPTT); ``cell`` the
    recurrent cell (a gated cell takes activation "tanh") and ``gate_bias`` its initial
    forget-gate (LSTM) or update-gate (GRU) bias offset (``Problem.gate_bias``)."""

    task: str = "recall"
    lag: int = 20
    batch: int = 32
    hidden: int = 32
    activation: str = "tanh"
    init: str = "orthogonal"
    alpha: float = 0.9
    lr: float = 0.05
    clip: float | None = None
    truncate: int | None = None
    dtype: str = "float32"
    seed: int = 0
    cell: str = "elman"
    gate_bias: float = 0.0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task == "adding" and self.lag < 2:
            raise ValueError("the adding task needs lag >= 2")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"clip must be None or a finite number > 0, got {self.clip!r}")
        self.problem()  # validates sizes, activation, dtype, init, alpha

    def problem(self) -> Problem:
        """The Problem whose data supplies the initial W_xh, W_hh and b."""
        return Problem(
            T=self.lag,
            B=self.batch,
            D=TASK_INPUTS[self.task],
            H=self.hidden,
            activation=self.activation,
            dtype=self.dtype,
            seed=self.seed,
            init=self.init,
            alpha=self.alpha,
            cell=self.cell,
            gate_bias=self.gate_bias,
        )

    def with_(self, **changes: object) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Scenario:
    """A named demonstration run and what it is meant to show."""

    name: str
    shows: str
    config: TrainConfig


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "short-lag",
            "tanh, W_hh = 0.9 Q, lag 10: the gradient reaches the first input; it learns",
            TrainConfig(lag=10),
        ),
        Scenario(
            "long-lag",
            "tanh, W_hh = 0.9 Q, lag 100: the gradient vanishes over the lag; learning stalls",
            TrainConfig(lag=100),
        ),
        Scenario(
            "long-lag-lstm",
            "LSTM, the same lag 100 at the same recurrent scale, forget-gate bias +2, lr 0.1, "
            "clipping at 1: the carousel carries the gradient over the lag",
            TrainConfig(lag=100, cell="lstm", gate_bias=2.0, lr=0.1, clip=1.0),
        ),
        Scenario(
            "long-lag-gru",
            "GRU, lag 100, update-gate bias +2, lr 0.1, clipping at 1",
            TrainConfig(lag=100, cell="gru", gate_bias=2.0, lr=0.1, clip=1.0),
        ),
        Scenario(
            "exploding",
            "identity, W_hh = 1.1 Q, lag 50, no clipping: the gradient explodes, so does the loss",
            TrainConfig(lag=50, activation="identity", alpha=1.1, lr=0.03),
        ),
        Scenario(
            "exploding-clipped",
            "the same with global-norm clipping at 1: it learns",
            TrainConfig(lag=50, activation="identity", alpha=1.1, lr=0.03, clip=1.0),
        ),
    )
}


@dataclass
class TrainResult:
    """losses (steps,) and grad_norms (steps,), the global norm before clipping; NaN after
    a divergence. ``diverged_at``: the step whose loss or gradient was not finite."""

    losses: np.ndarray
    grad_norms: np.ndarray
    diverged_at: int | None = None

    def outcome(self) -> str:
        """'diverged at step N', or 'learned', 'partly learned' or 'stalled' with the final
        loss beside the baseline."""
        if self.diverged_at is not None:
            return f"diverged at step {self.diverged_at}"
        final = self.final_loss
        if final < LEARNED_FRACTION * BASELINE_LOSS:
            verdict = "learned"
        elif final > STALLED_FRACTION * BASELINE_LOSS:
            verdict = "stalled"
        else:
            verdict = "partly learned"
        return f"{verdict} (final loss {final:.3g}, baseline {BASELINE_LOSS})"

    @property
    def final_loss(self) -> float:
        """Mean loss over the last tenth of the steps (NaN after a divergence)."""
        return float(np.mean(self.losses[-max(1, self.losses.size // 10) :]))


def task_batch(
    task: str, rng: np.random.Generator, T: int, B: int
) -> tuple[np.ndarray, np.ndarray]:
    """xs (T, B, D) and targets (B,), float64, for one batch of ``task``."""
    if task == "recall":
        xs = np.zeros((T, B, 1))
        xs[0, :, 0] = rng.standard_normal(B)
        return xs, xs[0, :, 0].copy()
    values = rng.uniform(0.0, 1.0, (T, B))
    half = T // 2
    first = rng.integers(0, half, B)
    second = rng.integers(half, T, B)
    markers = np.zeros((T, B))
    rows = np.arange(B)
    markers[first, rows] = 1.0
    markers[second, rows] = 1.0
    targets = (values[first, rows] + values[second, rows] - 1.0) * math.sqrt(6.0)
    return np.stack([values, markers], axis=-1), targets


def initial_params(config: TrainConfig) -> dict[str, np.ndarray]:
    """The cell's parameters from make_data (elman: W_xh (D, H), W_hh (H, H), b (H,));
    w_out (H,) ~ N(0, 1/H); c (1,) = 0."""
    data = make_data(config.problem())
    rng = np.random.default_rng([config.seed, 2])
    w_out = rng.standard_normal(config.hidden) / math.sqrt(config.hidden)
    return {
        **data.params,
        "w_out": w_out.astype(config.dtype),
        "c": np.zeros(1, config.dtype),
    }


def loss_and_grads(
    backend: Backend,
    params: dict[str, np.ndarray],
    xs: np.ndarray,
    targets: np.ndarray,
    config: TrainConfig,
) -> tuple[float, dict[str, np.ndarray]]:
    """The loss of one batch and its gradient w.r.t. every entry of ``params``."""
    T, B, _ = xs.shape
    native = backend.to_native
    names = [name for name in params if name not in READOUT]
    net = Params(**{name: native(params[name]) for name in names})
    xs_n = native(xs.astype(config.dtype))
    zeros = np.zeros((B, config.hidden), config.dtype)
    h0_n = native(zeros)
    state0 = {"c0": native(zeros)} if config.cell == "lstm" else {}
    hs = backend.to_numpy(backend.unroll(net, xs_n, h0_n, activation=config.activation, **state0))
    h_last = hs[-1]
    residual = h_last @ params["w_out"] + params["c"][0] - targets.astype(config.dtype)
    loss = 0.5 * float(np.mean(np.square(residual, dtype=np.float64)))
    dy = (residual / B).astype(config.dtype)
    dhs = np.zeros((T, B, config.hidden), config.dtype)
    dhs[-1] = np.outer(dy, params["w_out"])
    grads = backend.grads_to_numpy(
        backend.bptt(
            net,
            xs_n,
            h0_n,
            native(dhs),
            activation=config.activation,
            truncate=config.truncate,
            **state0,
        )
    )
    return loss, {
        **{name: grads[name] for name in names},
        "w_out": h_last.T @ dy,
        "c": np.sum(dy, keepdims=True),
    }


def train(backend: Backend, config: TrainConfig, steps: int) -> TrainResult:
    """``steps`` SGD steps on fresh batches; stops at the first non-finite loss or gradient
    (NumPy floating-point warnings are silenced: overflow is the expected failure here)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    rng = np.random.default_rng([config.seed, 1])
    params = initial_params(config)
    result = TrainResult(np.full(steps, np.nan), np.full(steps, np.nan))
    with np.errstate(all="ignore"):
        for step in range(steps):
            xs, targets = task_batch(config.task, rng, config.lag, config.batch)
            loss, grads = loss_and_grads(backend, params, xs, targets, config)
            result.losses[step] = loss
            if config.clip is None:
                norm = global_norm(grads)
            else:
                grads, norm = clip_by_global_norm(grads, config.clip)
            result.grad_norms[step] = norm
            if not (math.isfinite(loss) and math.isfinite(norm)):
                result.diverged_at = step
                result.losses[step + 1 :] = np.nan
                break
            params = {
                name: (value - config.lr * grads[name]).astype(config.dtype)
                for name, value in params.items()
            }
    return result


def loss_trajectory(backend: Backend, config: TrainConfig, steps: int) -> np.ndarray:
    """The loss at every step (steps,); NaN after a divergence. Same seed, same data and
    same start on every backend, so trajectories of correct backends agree."""
    return train(backend, config, steps).losses
