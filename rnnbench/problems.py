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
from rnnbench.errors import InputError
from rnnbench.harness.machine import available_memory_bytes

DTYPES: tuple[str, ...] = ("float32", "float64")
INITS: tuple[str, ...] = ("gaussian", "orthogonal")
COTANGENTS: tuple[str, ...] = ("all", "last")


@dataclass(frozen=True)
class Problem:
    """One recurrent-network problem: sizes, cell, precision, seed and initialisation.

    T: sequence length; B: batch; D: input size; H: hidden size.
    init: ``"orthogonal"`` makes ``W_hh = alpha * Q`` with Q a random orthogonal matrix
    (every singular value exactly alpha); ``"gaussian"`` draws W_hh entries from
    N(0, alpha^2 / H), so its spectral radius is close to alpha.
    cotangent: the upstream gradient dL/dh_t; ``"all"`` draws it for every step,
    ``"last"`` keeps only the last step (the setting of gradient-decay curves).
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

    def __post_init__(self) -> None:
        check_dimensions(self, "Problem.")
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

    W_xh (D, H), W_hh (H, H), b (H,), xs (T, B, D), h0 (B, H), dhs (T, B, H).
    """

    problem: Problem
    W_xh: np.ndarray
    W_hh: np.ndarray
    b: np.ndarray
    xs: np.ndarray
    h0: np.ndarray
    dhs: np.ndarray

    def astype(self, dtype: str) -> ProblemData:
        """The same values in another dtype (the reference upcasts float32 data this way)."""
        arrays = {name: getattr(self, name).astype(dtype) for name in ARRAY_NAMES}
        return ProblemData(problem=self.problem.with_(dtype=dtype), **arrays)


ARRAY_NAMES: tuple[str, ...] = ("W_xh", "W_hh", "b", "xs", "h0", "dhs")


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random (n, n) orthogonal matrix, Haar-distributed (QR with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def data_bytes(problem: Problem) -> int:
    """An upper bound of the memory ``make_data`` needs: every array drawn in float64 and
    cast to the problem's dtype, plus the QR factorisation behind an orthogonal W_hh (the
    (H, H) draw, Q, R and the sign-fixed copy)."""
    p = problem
    elements = p.T * p.B * (p.D + p.H) + p.D * p.H + p.H * p.H + p.B * p.H + p.H
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
    """Draw every array of ``problem`` from its seed; see the module docstring. InputError
    if the data cannot fit in memory (``check_data_fits``)."""
    check_data_fits(problem)
    p = problem
    rng = np.random.default_rng(p.seed)
    W_xh = rng.standard_normal((p.D, p.H)) / math.sqrt(p.D)
    if p.init == "orthogonal":
        W_hh = p.alpha * orthogonal(rng, p.H)
    else:
        W_hh = rng.standard_normal((p.H, p.H)) * (p.alpha / math.sqrt(p.H))
    b = 0.1 * rng.standard_normal(p.H)
    xs = rng.standard_normal((p.T, p.B, p.D))
    h0 = 0.5 * rng.standard_normal((p.B, p.H))
    dhs = rng.standard_normal((p.T, p.B, p.H))
    if p.cotangent == "last":
        dhs[:-1] = 0.0
    arrays = {"W_xh": W_xh, "W_hh": W_hh, "b": b, "xs": xs, "h0": h0, "dhs": dhs}
    return ProblemData(problem=p, **{k: v.astype(p.dtype) for k, v in arrays.items()})
