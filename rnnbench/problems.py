"""The Problem value and the one seeded source of every array a backend sees.

All data is drawn in float64 from ``numpy.random.default_rng(seed)`` in a fixed order and
then cast to the problem's dtype, so every backend (and the float64 reference, which
upcasts the same cast values) sees bit-identical inputs and parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from rnnbench.activations import ACTIVATIONS
from rnnbench.cells import DEFAULT_CELL, check_activation, get_cell
from rnnbench.errors import InputError
from rnnbench.harness.machine import available_memory_bytes

DTYPES: tuple[str, ...] = ("float32", "float64")
INITS: tuple[str, ...] = ("gaussian", "orthogonal")
COTANGENTS: tuple[str, ...] = ("all", "last")


@dataclass(frozen=True)
class Problem:
    """One recurrent-network problem: sizes, cell, precision, seed and initialisation.

    T: sequence length; B: batch; D: input size; H: hidden size.
    cell: ``"elman"`` (default), ``"lstm"`` or ``"gru"`` (``rnnbench.cells``); a gated
    cell takes only ``activation="tanh"`` (its nonlinearities are fixed).
    init: ``"orthogonal"`` makes ``W_hh = alpha * Q`` with Q a random orthogonal matrix
    (every singular value exactly alpha); ``"gaussian"`` draws W_hh entries from
    N(0, alpha^2 / H), so its spectral radius is close to alpha. A gated cell's W_h
    (H, G*H) is G such (H, H) blocks, one per gate, drawn independently.
    cotangent: the upstream gradient dL/dh_t; ``"all"`` draws it for every step,
    ``"last"`` keeps only the last step (the setting of gradient-decay curves).
    gate_bias: added to the bias of the gate that keeps the state, the LSTM's forget gate
    (b_f) and the GRU's update gate (b_x's z block); 1.0 is the usual forget-gate bias of
    1. Must be 0 for the elman cell.
    """

    T: int = 16
    B: int = 4
    D: int = 8
    H: int = 8
    activation: str = "tanh"
    dtype: str = "float64"
    seed: int = 0
    init: str = "gaussian"
    alpha: float = 1.0
    cotangent: str = "all"
    cell: str = DEFAULT_CELL
    gate_bias: float = 0.0

    def __post_init__(self) -> None:
        check_dimensions(self, "Problem.")
        check_activation(get_cell(self.cell), self.activation)
        if not isinstance(self.gate_bias, int | float) or not math.isfinite(self.gate_bias):
            raise InputError(f"Problem.gate_bias must be a finite number, got {self.gate_bias!r}")
        if self.gate_bias and self.cell == "elman":
            raise InputError("Problem.gate_bias is for the gated cells; the elman cell has none")
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("init", self.init, INITS)
        _check_choice("cotangent", self.cotangent, COTANGENTS)
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ValueError(f"Problem.seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.alpha, int | float) or not math.isfinite(self.alpha):
            raise ValueError(f"Problem.alpha must be a finite number, got {self.alpha!r}")
        if self.alpha <= 0:
            raise ValueError(f"Problem.alpha must be > 0, got {self.alpha!r}")

    def with_(self, **changes) -> Problem:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


def check_dimensions(sizes: object, prefix: str) -> None:
    """InputError unless each of ``sizes.T``, ``.B``, ``.D`` and ``.H`` is an integer >= 1;
    the message names the field as ``prefix + name`` ("Problem.T", "size T")."""
    for name in ("T", "B", "D", "H"):
        value = getattr(sizes, name)
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"{prefix}{name} must be an integer >= 1, got {value!r}")


def _check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"Problem.{field} must be one of {choices}, got {value!r}")


@dataclass(frozen=True)
class ProblemData:
    """The NumPy arrays of a problem, all of ``problem.dtype``.

    params: the cell's parameters by name (``rnnbench.cells``; elman: W_xh (D, H),
    W_hh (H, H), b (H,)), also readable as attributes (``data.W_xh``); xs (T, B, D),
    h0 (B, H), dhs (T, B, H) the loss's cotangents of h_t, and c0 (B, H) for the LSTM
    (None for the other cells).
    """

    problem: Problem
    params: dict[str, np.ndarray]
    xs: np.ndarray
    h0: np.ndarray
    dhs: np.ndarray
    c0: np.ndarray | None = None

    def __getattr__(self, name: str) -> np.ndarray:
        params = self.__dict__.get("params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__} has no array {name!r}")

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by name: the parameters, xs, h0, c0 (LSTM) and dhs."""
        state = {"h0": self.h0} if self.c0 is None else {"h0": self.h0, "c0": self.c0}
        return {**self.params, "xs": self.xs, **state, "dhs": self.dhs}

    def astype(self, dtype: str) -> ProblemData:
        """The same values in another dtype (the reference upcasts float32 data this way)."""
        cast = {name: array.astype(dtype) for name, array in self.arrays().items()}
        return replace(self, problem=self.problem.with_(dtype=dtype)).with_arrays(**cast)

    def with_arrays(self, **changes: np.ndarray) -> ProblemData:
        """A copy with some arrays replaced, by their names in ``arrays()``."""
        unknown = sorted(set(changes) - set(self.arrays()))
        if unknown:
            raise KeyError(f"{', '.join(unknown)}: no such array in this problem's data")
        params = {name: changes.get(name, array) for name, array in self.params.items()}
        state = {name: changes[name] for name in ("xs", "h0", "dhs", "c0") if name in changes}
        return replace(self, params=params, **state)


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random (n, n) orthogonal matrix, Haar-distributed (QR with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def data_bytes(problem: Problem) -> int:
    """An upper bound of the memory ``make_data`` needs: every array drawn in float64 and
    cast to the problem's dtype, plus the QR factorisation behind an orthogonal W_hh (the
    (H, H) draw, Q, R and the sign-fixed copy); a gated cell's weights and biases are G
    gates wide, and the LSTM adds c0."""
    p = problem
    G = get_cell(p.cell).n_gates
    elements = p.T * p.B * (p.D + p.H) + G * (p.D * p.H + p.H * p.H + 2 * p.H) + 2 * p.B * p.H
    factorisation = 4 * p.H * p.H if p.init == "orthogonal" else 0
    return elements * (8 + np.dtype(p.dtype).itemsize) + 8 * factorisation


#: problems whose data needs more than this are checked against the available memory first
CHECKED_DATA_BYTES = 256 * 2**20


def check_data_fits(problem: Problem) -> None:
    """InputError, before anything is allocated, when the problem's data alone
    (``data_bytes``) needs more than this machine's available memory."""
    needed = data_bytes(problem)
    if needed <= CHECKED_DATA_BYTES:
        return
    available = available_memory_bytes()
    if available is not None and needed > available:
        raise InputError(
            f"the data of Problem(T={problem.T}, B={problem.B}, D={problem.D}, H={problem.H}) "
            f"needs about {needed / 2**30:.1f} GiB; this machine has "
            f"{available / 2**30:.1f} GiB available"
        )


def make_data(problem: Problem) -> ProblemData:
    """Draw every array of ``problem`` from its seed; see the module docstring. The elman
    cell's draws are those of every rnnbench version (same seed, same arrays); a gated cell
    draws W_x (D, G*H), W_h (H, G*H) one (H, H) block per gate, its biases, then xs, h0,
    dhs and, for the LSTM, c0 last. InputError if the data cannot fit in memory
    (``check_data_fits``)."""
    check_data_fits(problem)
    p = problem
    cell = get_cell(p.cell)
    rng = np.random.default_rng(p.seed)
    G = cell.n_gates
    W_x = rng.standard_normal((p.D, G * p.H)) / math.sqrt(p.D)
    W_h = np.concatenate([_recurrent_block(rng, p) for _ in range(G)], axis=1)
    biases = [0.1 * rng.standard_normal(G * p.H) for _ in cell.param_names[2:]]
    if p.gate_bias:
        biases[0][p.H : 2 * p.H] += p.gate_bias  # f (LSTM) or z (GRU): the second gate
    params = dict(zip(cell.param_names, [W_x, W_h, *biases], strict=True))
    xs = rng.standard_normal((p.T, p.B, p.D))
    h0 = 0.5 * rng.standard_normal((p.B, p.H))
    dhs = rng.standard_normal((p.T, p.B, p.H))
    if p.cotangent == "last":
        dhs[:-1] = 0.0
    c0 = 0.5 * rng.standard_normal((p.B, p.H)) if "c" in cell.state else None
    data = ProblemData(problem=p, params=params, xs=xs, h0=h0, dhs=dhs, c0=c0)
    return data.astype(p.dtype)


def _recurrent_block(rng: np.random.Generator, p: Problem) -> np.ndarray:
    """One (H, H) block of the recurrent weights: alpha * Q or N(0, alpha^2 / H)."""
    if p.init == "orthogonal":
        return p.alpha * orthogonal(rng, p.H)
    return rng.standard_normal((p.H, p.H)) * (p.alpha / math.sqrt(p.H))
