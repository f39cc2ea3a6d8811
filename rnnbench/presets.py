"""What `rnnbench run` measures: problem sizes, named presets of them, and the size check.

A size is the four numbers of a recurrent problem: T (sequence length), B (batch),
D (input size) and H (hidden size). A preset is a sweep of sizes with the number of
warm-up and timed repeats per size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rnnbench.errors import InputError
from rnnbench.problems import Problem, check_dimensions


@dataclass(frozen=True)
class Size:
    """T (sequence length), B (batch), D (input size), H (hidden size); each >= 1."""

    T: int
    B: int
    D: int
    H: int

    def __post_init__(self) -> None:
        check_dimensions(self, "size ")

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
        """``"T=100 B=64 D=512 H=512"``."""
        return f"T={self.T} B={self.B} D={self.D} H={self.H}"

    def problem(self, **settings: object) -> Problem:
        """The Problem of this size with the other fields given (activation, dtype, ...)."""
        return Problem(T=self.T, B=self.B, D=self.D, H=self.H, **settings)

    def activation_bytes(self, dtype: str) -> int:
        """T*B*H*itemsize: the hidden states BPTT has to keep, its memory lower bound."""
        return self.T * self.B * self.H * np.dtype(dtype).itemsize

    def estimated_run_bytes(self, dtype: str) -> int:
        """A generous estimate of the memory one measurement at this size needs: BPTT's
        stored states, adjoints and input gradients in ``dtype`` plus the float64 reference."""
        arrays = 5 * self.T * self.B * self.H + 3 * self.T * self.B * self.D
        return arrays * (np.dtype(dtype).itemsize + 8)


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
            "PyTorch fastrnns-like: T=100 B=64 D=H=512",
            (Size(100, 64, 512, 512),),
            repeats=5,
            warmup=1,
            budget_s=10.0,
        ),
        Preset(
            "deepbench",
            "DeepBench-like vanilla RNN (heavy: tens of minutes on 2 cores): "
            "T=50, H=D in 1760/2048/2560, B in 16/32/64/128",
            _sweep(50, (16, 32, 64, 128), (1760, 2048, 2560)),
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
            f"size {size.label} needs about {needed / 2**30:.1f} GiB in {dtype} "
            f"(with the float64 reference); this machine has {available_bytes / 2**30:.1f} GiB "
            "available"
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
