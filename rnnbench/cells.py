"""Facts about the recurrent cells, once: parameter names and shapes, state parts, the
adjoints ``bptt`` returns, and FLOP counts. The equations are in docs/cells.md.

Row convention throughout (x_t (B, D) @ W (D, G*H)); gated cells stack their G gates along
the last axis in PyTorch/cuDNN order, so a fused kernel's weights map onto them exactly:

* ``elman``: ``h_t = f(x_t W_xh + h_{t-1} W_hh + b)``; W_xh (D, H), W_hh (H, H), b (H,).
* ``lstm``: gates i, f, g, o along 4H; ``a = x_t W_x + h_{t-1} W_h + b``,
  ``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)`` (sigmoid on i, f, o; tanh on g);
  W_x (D, 4H), W_h (H, 4H), b (4H,). State (h, c).
* ``gru``: gates r, z, n along 3H, reset after the recurrent product (two biases):
  ``r, z = sigmoid(x W_x[r,z] + b_x[r,z] + h W_h[r,z] + b_h[r,z])``,
  ``n = tanh(x W_xn + b_xn + r*(h W_hn + b_hn))``, ``h_t = (1-z)*n + z*h_{t-1}``;
  W_x (D, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,).

Gated cells use their fixed nonlinearities; their only accepted ``activation`` is "tanh".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rnnbench.errors import InputError


@dataclass(frozen=True)
class Cell:
    """One cell's facts. ``params``: (name, shape) pairs, shapes in the symbols D, H and
    "kH" (k times H); ``state``: the state parts, each (B, H), named as in ``h0``/``c0`` for
    the initial state, ``dhs``/``dcs`` for the loss's cotangents and ``hs``/``cs`` for the
    per-step adjoints; ``gates``: the gate names along the G*H axis (empty for elman)."""

    name: str
    params: tuple[tuple[str, tuple[str, ...]], ...]
    state: tuple[str, ...]
    gates: tuple[str, ...] = ()
    activations: tuple[str, ...] | None = None  # None: every activation

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.params)

    @property
    def n_gates(self) -> int:
        """G: the number of H-wide blocks of the weights (1 for elman)."""
        return max(len(self.gates), 1)

    @property
    def initial_names(self) -> tuple[str, ...]:
        """("h0",) or ("h0", "c0")."""
        return tuple(f"{part}0" for part in self.state)

    @property
    def adjoint_names(self) -> tuple[str, ...]:
        """("hs",) or ("hs", "cs"): dL/dh_t and dL/dc_t of every step, (T, B, H) each."""
        return tuple(f"{part}s" for part in self.state)

    @property
    def grad_names(self) -> tuple[str, ...]:
        """Every name of the cell's ``Grads``, in order: parameters, initial state, xs,
        adjoints."""
        return (*self.param_names, *self.initial_names, "xs", *self.adjoint_names)

    def shapes(self, D: int, H: int) -> dict[str, tuple[int, ...]]:
        """The parameter shapes for input size D and hidden size H."""
        sizes = {"D": D, "H": H}
        return {name: tuple(_size(s, sizes) for s in shape) for name, shape in self.params}


def _size(symbol: str, sizes: dict[str, int]) -> int:
    """The size of "D", "H" or "kH"."""
    if symbol in sizes:
        return sizes[symbol]
    return int(symbol[:-1]) * sizes[symbol[-1]]


CELLS: dict[str, Cell] = {
    cell.name: cell
    for cell in (
        Cell("elman", (("W_xh", ("D", "H")), ("W_hh", ("H", "H")), ("b", ("H",))), ("h",)),
        Cell(
            "lstm",
            (("W_x", ("D", "4H")), ("W_h", ("H", "4H")), ("b", ("4H",))),
            ("h", "c"),
            gates=("i", "f", "g", "o"),
            activations=("tanh",),
        ),
        Cell(
            "gru",
            (("W_x", ("D", "3H")), ("W_h", ("H", "3H")), ("b_x", ("3H",)), ("b_h", ("3H",))),
            ("h",),
            gates=("r", "z", "n"),
            activations=("tanh",),
        ),
    )
}
CELL_NAMES: tuple[str, ...] = tuple(CELLS)
DEFAULT_CELL = "elman"


def get_cell(name: str) -> Cell:
    """The cell called ``name``; InputError naming the known cells otherwise."""
    try:
        return CELLS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown cell {name!r}; known cells: {', '.join(CELLS)}") from None


def cell_of_params(names: object) -> Cell:
    """The cell whose parameter names are exactly ``names``; InputError otherwise."""
    given = tuple(names)  # type: ignore[call-overload]
    for cell in CELLS.values():
        if set(given) == set(cell.param_names):
            return cell
    expected = "; ".join(f"{c.name}: {', '.join(c.param_names)}" for c in CELLS.values())
    raise InputError(
        f"parameters named {', '.join(given) or '(none)'} match no cell; expected ({expected})"
    )


def check_activation(cell: Cell, activation: str) -> None:
    """InputError when a gated cell is asked for an activation other than its own."""
    if cell.activations is not None and activation not in cell.activations:
        raise InputError(
            f"cell {cell.name!r} uses its fixed gate nonlinearities (sigmoid and tanh); "
            f"activation must be 'tanh', got {activation!r}"
        )


class _Sized(Protocol):
    T: int
    B: int
    D: int
    H: int


def forward_flops(size: _Sized, cell: str | None = None) -> int:
    """2*T*B*G*(D*H + H*H): the forward pass's GEMM floating-point operations (a multiply-add
    is 2), G = 1 (elman), 4 (lstm: four gate GEMMs) or 3 (gru). Elementwise work is not
    counted. ``cell`` defaults to ``size.cell`` (a ``presets.Size``), else elman."""
    G = get_cell(cell or getattr(size, "cell", DEFAULT_CELL)).n_gates
    return 2 * size.T * size.B * G * (size.D * size.H + size.H * size.H)


def bptt_flops(size: _Sized, cell: str | None = None) -> int:
    """Forward plus backward: three times the forward count (the backward pass does two
    GEMMs per forward GEMM)."""
    return 3 * forward_flops(size, cell)
