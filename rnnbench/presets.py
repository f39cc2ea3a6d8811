"""What `rnnbench run` measures: problem sizes, named presets of them, and the size check.

A size is the four numbers of a recurrent problem: T (sequence length), B (batch),
D (input size) and H (hidden size). A preset is a sweep of sizes with the number of
warm-up and timed repeats per size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rnnbench.cells import DEFAULT_CELL, get_cell
from rnnbench.errors import InputError
from rnnbench.problems import Problem, check_dimensions


@dataclass(frozen=True)
class Size:
    """T (sequence length), B (batch), D (input size), H (hidden size); each >= 1; and the
    cell measured at that size (default elman)."""

    T: int
    B: int
    D: int
    H: int
    cell: str = DEFAULT_CELL

    def __post_init__(self) -> None:
        check_dimensions(self, "size ")
        get_cell(self.cell)

    @classmethod
    def parse(cls, text: str) -> Size:
        """``"T,B,D,H"`` (e.g. ``"100,64,512,512"``), or the same as ``T=..,B=..,D=..,H=..``."""
        parts = [p for p in re.split(r"[,x\s]+", text.strip()) if p]
        if parts and all("=" in p for p in parts):
            named = dict(p.split("=", 1) for p in parts)
            if sorted(named) != ["B", "D", "H", "T"]:
                raise InputError(f"size {text!r} must name exactly T, B, D and H")
            parts = [named[k] for k in ("T", "B", "D", "H")]
        if len(parts) != 4 or not all(re.fullmatch(r"-?\d+", p) for p in parts):
            raise InputError(f"size {text!r} must be four integers T,B,D,H, e.g. 100,64,512,512")
        T, B, D, H = (int(p) for p in parts)
        return cls(T=T, B=B, D=D, H=H)

    @property
    def label(self) -> str:
        """``"T=100 B=64 D=512 H=512"``, prefixed by the cell when it is not elman
        (``"lstm T=100 B=64 D=512 H=512"``)."""
        dims = f"T={self.T} B={self.B} D={self.D} H={self.H}"
        return dims if self.cell == DEFAULT_CELL else f"{self.cell} {dims}"

    def problem(self, **settings: object) -> Problem:
        """The Problem of this size and cell with the other fields given (activation, dtype,
        ...; a ``cell`` given here wins)."""
        fields = {"cell": self.cell, **settings}
        return Problem(T=self.T, B=self.B, D=self.D, H=self.H, **fields)

    def activation_bytes(self, dtype: str) -> int:
        """T*B*H*itemsize: the hidden states BPTT has to keep, its memory lower bound."""
        return self.T * self.B * self.H * np.dtype(dtype).itemsize

    def estimated_run_bytes(self, dtype: str) -> int:
        """An upper bound of the memory one measurement at this size needs, resident set
        included. Every array is counted in float64 plus ``dtype``: the data is drawn in
        float64 and cast, the reference works on a float64 copy, and its outputs, error
        scales and a backend's outputs have the same shapes. Per element of each kind of
        array: 10 copies of the (T, B, H) ones (data dhs, reference states, adjoints, deltas
        and scale terms; a backend's states, pre-activations, perturbation and adjoints) and
        7 of the (T, B, D), (D, H) and (H, H) ones (data, reference copy, gradient, scale
        term, a backend's copy, gradient and GEMM temporaries), 4 of the (B, H) and (H,)
        ones, plus a fixed 64 MiB; for a gated cell of G gates the (T, B, H), (D, H), (H, H)
        and (H,) counts are G times as wide. Measured with tracemalloc on the numpy backend's path
        through `rnnbench run` (reference, load, warm-up, timed calls, checked outputs), the
        arrays' part is 2.9x to 4x what a run uses (``tests/test_faults.py`` keeps it a
        bound, at most 4.5x)."""
        T, B, D, H = self.T, self.B, self.D, self.H
        G = get_cell(self.cell).n_gates  # a gated cell's weights and gate values are G*H wide
        elements = 10 * G * T * B * H + 7 * (T * B * D + G * (D * H + H * H)) + 4 * (B * H + G * H)
        return elements * (np.dtype(dtype).itemsize + 8) + RUN_OVERHEAD_BYTES


#: what a measurement needs beyond its arrays (interpreter, frameworks' allocator slack)
RUN_OVERHEAD_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Preset:
    """A named size sweep with its warm-up and timed repeat counts, and the time budget per
    phase that may lower the repeats of a slow backend (None: always ``repeats``)."""

    name: str
    description: str
    sizes: tuple[Size, ...]
    repeats: int
    warmup: int
    budget_s: float | None = None


def _sweep(T: int, Bs: tuple[int, ...], Hs: tuple[int, ...]) -> tuple[Size, ...]:
    return tuple(Size(T=T, B=B, D=H, H=H) for H in Hs for B in Bs)


#: DeepBench's LSTM and GRU training sizes as (H, B, T, cell), D = H
_DEEPBENCH_GATED: tuple[tuple[int, int, int, str], ...] = (
    *((H, B, 25, "lstm") for H in (512, 1024, 2048, 4096) for B in (16, 32, 64, 128)),
    *((1536, B, 50, "lstm") for B in (8, 16, 32)),
    *((256, B, 150, "lstm") for B in (16, 32, 64)),
    *((H, 32, T, "gru") for H in (2816,) for T in (750, 375, 187)),
    *((H, 32, T, "gru") for H in (2048, 1536, 2560) for T in (1500, 750, 375, 187)),
    (512, 32, 1, "gru"),
    (1024, 32, 1500, "gru"),
    (1024, 64, 1500, "gru"),
)
DEEPBENCH_GATED: tuple[Size, ...] = tuple(
    Size(T=T, B=B, D=H, H=H, cell=cell) for H, B, T, cell in _DEEPBENCH_GATED
)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "default",
            "three small sizes, under 2 minutes on 2 cores: T=1000 B=1 H=64 "
            "(latency-bound), T=100 B=32 H=64 and T=100 B=32 H=256",
            (Size(1000, 1, 64, 64), Size(100, 32, 64, 64), Size(100, 32, 256, 256)),
            repeats=7,
            warmup=1,
            budget_s=1.0,
        ),
        Preset(
            "quick",
            "one tiny size (T=20 B=4 H=16), for a smoke test in seconds",
            (Size(20, 4, 16, 16),),
            repeats=3,
            warmup=1,
        ),
        Preset(
            "fastrnns",
            "what PyTorch's benchmarks/fastrnns measures: an LSTM, T=100 B=64 D=H=512 "
            "(--cell gru for the GRU at the same size)",
            (Size(100, 64, 512, 512, "lstm"),),
            repeats=5,
            warmup=1,
            budget_s=10.0,
        ),
        Preset(
            "deepbench",
            "DeepBench's RNN training set (heavy: hours on 2 cores; the largest GRU sizes need "
            "tens of GiB): vanilla T=50, H=D in 1760/2048/2560, B in 16/32/64/128; its LSTM "
            "and GRU sizes (H, B, T as in DeepBench's rnn_problems.h, D = H)",
            _sweep(50, (16, 32, 64, 128), (1760, 2048, 2560)) + DEEPBENCH_GATED,
            repeats=5,
            warmup=1,
            budget_s=10.0,
        ),
    )
}

DEFAULT_PRESET = "default"


def get_preset(name: str) -> Preset:
    """The preset called ``name``; InputError naming the known presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


def check_fits(size: Size, dtype: str, available_bytes: int | None) -> None:
    """InputError when a size cannot fit in ``available_bytes`` of memory (None: no check)."""
    needed = size.estimated_run_bytes(dtype)
    if available_bytes is not None and needed > available_bytes:
        raise InputError(
            f"size {size.label} needs about {needed / 2**30:.1f} GiB in {dtype} (data, "
            "weights, the float64 reference and a backend's working memory); this machine "
            f"has {available_bytes / 2**30:.1f} GiB available"
        )


@dataclass(frozen=True)
class DecaySettings:
    """A gradient-decay study: one size, every cell x activation x alpha (a gated cell
    takes its own nonlinearities, so only "tanh"), recurrent weights alpha * Q per gate and
    a cotangent at the last step only; ``gate_bias`` is added to the gated cells' forget
    (LSTM) and update (GRU) gate biases. The defaults show float32 overflow near k = 920
    for alpha = 1.1 with the identity activation."""

    size: Size = Size(1000, 1, 64, 64)
    activations: tuple[str, ...] = ("identity", "tanh", "sigmoid")
    alphas: tuple[float, ...] = (0.9, 1.0, 1.1)
    dtype: str = "float32"
    seed: int = 0
    cells: tuple[str, ...] = ("elman",)
    gate_bias: float = 1.0

    def families(self) -> list[tuple[str, str]]:
        """(cell, activation) of every curve family, in order."""
        return [
            (cell, activation)
            for cell in self.cells
            for activation in (self.activations if cell == "elman" else ("tanh",))
        ]

    def problem(self, activation: str, alpha: float, cell: str = "elman") -> Problem:
        """The Problem of one curve."""
        return self.size.problem(
            activation=activation,
            alpha=alpha,
            dtype=self.dtype,
            seed=self.seed,
            init="orthogonal",
            cotangent="last",
            cell=cell,
            gate_bias=0.0 if cell == "elman" else self.gate_bias,
        )
