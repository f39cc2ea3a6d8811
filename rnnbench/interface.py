"""The Backend contract every implementation of a recurrent network fulfils.

Row convention, x_t (B, D) @ W (D, G*H), state parts (B, H). The cell is told by the
parameters' names (``Params``; the cells, their equations, shapes and gate order are in
``rnnbench.cells`` and docs/cells.md):

* elman: ``h_t = f(x_t W_xh + h_{t-1} W_hh + b)``, state h;
* lstm: gates i, f, g, o along 4H, ``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``,
  state (h, c), initial c0;
* gru: gates r, z, n along 3H, ``n = tanh(x W_xn + b_xn + r*(h W_hn + b_hn))``,
  ``h_t = (1-z)*n + z*h_{t-1}``, state h.

The loss is ``L = sum_t <dhs_t, h_t> (+ sum_t <dcs_t, c_t> for the LSTM)``; ``bptt`` returns
its gradients and the per-step adjoint of every state part. A backend works on its own
native arrays. ``to_native``/``to_numpy`` convert, and are never inside timed code. The
public methods check array types (``native_type``), names, shapes and dtypes (see
``validation``) and then call the
``_cell``/``_unroll``/``_states``/``_bptt`` hooks a backend implements; the LSTM's extra state
reaches the hooks as keywords (``c_prev``, ``c0``, ``dcs``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

import numpy as np

from rnnbench import validation
from rnnbench.activations import ACTIVATIONS
from rnnbench.cells import Cell, cell_of_params
from rnnbench.problems import ProblemData

A = TypeVar("A")


class _Named(Mapping[str, A]):
    """An immutable mapping of arrays by name, also readable as attributes (``p.W_xh``)."""

    __slots__ = ("_arrays",)
    _arrays: dict[str, A]

    def __init__(self, arrays: dict[str, A]) -> None:
        object.__setattr__(self, "_arrays", dict(arrays))

    def __getitem__(self, name: str) -> A:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __getattr__(self, name: str) -> A:
        try:
            return self._arrays[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no {name!r}; it holds {', '.join(self._arrays)}"
            ) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={getattr(v, 'shape', '?')}" for k, v in self._arrays.items())
        return f"{type(self).__name__}({shapes})"

    def replace(self, **changes: A) -> Self:
        """A copy with some arrays replaced (names must exist)."""
        unknown = set(changes) - set(self._arrays)
        if unknown:
            raise KeyError(f"{type(self).__name__} has no {', '.join(sorted(unknown))}")
        return type(self)(**{**self._arrays, **changes})


class Params(_Named[A]):
    """A cell's parameters by name; the names say which cell (``rnnbench.cells``).

    * elman: W_xh (D, H), W_hh (H, H), b (H,); ``Params(W_xh, W_hh, b)`` positionally.
    * lstm: W_x (D, 4H), W_h (H, 4H), b (4H,), gates i, f, g, o along 4H.
    * gru: W_x (D, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,), gates r, z, n along 3H.

    Build a gated cell's with keywords: ``Params(W_x=..., W_h=..., b=...)``.
    """

    def __init__(self, *elman: A, **named: A) -> None:
        if elman:
            if named or len(elman) != 3:
                raise TypeError(
                    "Params takes the elman cell's (W_xh, W_hh, b) positionally, "
                    "or every parameter by name"
                )
            named = dict(zip(("W_xh", "W_hh", "b"), elman, strict=True))
        super().__init__(named)

    @property
    def cell(self) -> Cell:
        """The cell these names belong to (InputError if none)."""
        return cell_of_params(self)


class Grads(_Named[A]):
    """Gradients of L, by name (``Cell.grad_names``): every parameter (shapes as
    ``Params``), h0 (B, H) (and c0 (B, H) for the LSTM), xs (T, B, D), and the per-step
    adjoints of every state part (what gradient-decay curves are made of): hs (T, B, H),
    hs[t] = dL/dh_{t+1}, and for the LSTM cs (T, B, H), cs[t] = dL/dc_{t+1}. Each adjoint is
    the total derivative of L with respect to that state part (through every later step)."""

    def __init__(self, **named: A) -> None:
        super().__init__(named)

    def items(self) -> list[tuple[str, A]]:  # type: ignore[override]
        """(name, gradient) pairs in a fixed order."""
        return list(self._arrays.items())


@dataclass(frozen=True)
class Inputs(Generic[A]):
    """A problem's arrays in a backend's native form; ``c0`` for the LSTM only."""

    params: Params[A]
    xs: A
    h0: A
    dhs: A
    c0: A | None = None

    @property
    def state0(self) -> dict[str, A]:
        """The initial state parts other than h0, as keywords: {} or {"c0": c0}."""
        return {} if self.c0 is None else {"c0": self.c0}


class Backend(Generic[A]):
    """Base class of a backend. Subclasses set the class attributes and implement the hooks.

    ``cells``: the cells it implements (default: elman only, so a backend written before
    gated cells existed keeps its meaning). ``missing_adjoints``: per cell, adjoints a
    backend cannot give exactly (a fused kernel that keeps c_t inside): its ``Grads`` leave
    them out, and the kit skips them with the reason.
    """

    name: ClassVar[str] = ""
    dtypes: ClassVar[frozenset[str]] = frozenset({"float32", "float64"})
    activations: ClassVar[frozenset[str]] = frozenset(ACTIVATIONS)
    cells: ClassVar[frozenset[str]] = frozenset({"elman"})
    missing_adjoints: ClassVar[dict[str, frozenset[str]]] = {}
    devices: ClassVar[frozenset[str]] = frozenset({"cpu"})
    supports_truncation: ClassVar[bool] = True
    #: importable modules the backend needs, and the install hint shown when one is missing
    requires: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""

    def __init__(self, device: str = "cpu") -> None:
        if device not in self.devices:
            raise ValueError(
                f"backend {self.name!r} does not support device={device!r}; "
                f"supported: {sorted(self.devices)}"
            )
        self.device = device

    # -- hooks a backend implements ------------------------------------------------------
    def to_native(self, array: np.ndarray) -> A:
        """A NumPy array as a native array on ``self.device`` (same dtype)."""
        raise NotImplementedError

    def to_numpy(self, array: A) -> np.ndarray:
        """A native array back as NumPy."""
        raise NotImplementedError

    def _cell(self, params: Params[A], x_t: A, h_prev: A, activation: str, **state: A) -> Any:
        """h_t, or (h_t, c_t) for the LSTM (``state``: c_prev)."""
        raise NotImplementedError

    def _unroll(self, params: Params[A], xs: A, h0: A, activation: str, **state0: A) -> A:
        """hs (T, B, H). Default for a cell with several state parts: ``_states``'s hs."""
        if len(params.cell.state) > 1:
            return self._states(params, xs, h0, activation, **state0)["hs"]
        raise NotImplementedError

    def _states(
        self, params: Params[A], xs: A, h0: A, activation: str, **state0: A
    ) -> dict[str, A]:
        """Every state part per step: {"hs"} or {"hs", "cs"}. Default for a cell with one
        state part: ``_unroll``."""
        if len(params.cell.state) == 1:
            return {"hs": self._unroll(params, xs, h0, activation)}
        raise NotImplementedError

    def _bptt(
        self,
        params: Params[A],
        xs: A,
        h0: A,
        dhs: A,
        activation: str,
        truncate: int | None,
        **state: A | None,
    ) -> Grads[A]:
        """``Grads`` (``state``: c0 and dcs, None meaning zero, for the LSTM)."""
        raise NotImplementedError

    def native_type(self) -> type | tuple[type, ...]:
        """The type(s) of this backend's native arrays; the public methods refuse others.
        Default: the type ``to_native`` returns (override when that is too narrow)."""
        native = self.__dict__.get("_native_type")
        if native is None:
            native = self.__dict__["_native_type"] = type(self.to_native(np.zeros(1, "float32")))
        return native

    def synchronize(self, result: Any) -> None:
        """Block until ``result`` is computed (asynchronous devices); timing calls this."""

    def warm_up(self, inputs: Inputs[A], *, activation: str, truncate: int | None = None) -> float:
        """Compile (or otherwise prepare) ``unroll`` and ``bptt`` for these shapes, dtype and
        settings, outside any timing; returns the seconds spent compiling (0.0 if nothing is
        compiled). Later calls with the same shapes must not compile again."""
        return 0.0

    def bptt_memory_bytes(self, inputs: Inputs[A], *, activation: str) -> int | None:
        """Bytes one ``bptt`` call on these inputs allocates beyond them, where the backend
        knows it exactly (a compiled program's memory analysis); None (the default) lets the
        harness measure it from the outside."""
        return None

    # -- the public contract --------------------------------------------------------------
    def cell(
        self, params: Params[A], x_t: A, h_prev: A, *, activation: str, c_prev: A | None = None
    ) -> Any:
        """One step: x_t (B, D), h_prev (B, H) -> h_t (B, H); for the LSTM also c_prev (B, H),
        and the result is (h_t, c_t)."""
        state = _present(c_prev=c_prev)
        validation.check_native(self, params, x_t=x_t, h_prev=h_prev, **state)
        validation.check_call(self, params, activation, x_t=x_t, h_prev=h_prev, **state)
        return self._cell(params, x_t, h_prev, activation, **state)

    def unroll(self, params: Params[A], xs: A, h0: A, *, activation: str, c0: A | None = None) -> A:
        """The cell over a sequence: xs (T, B, D), h0 (B, H) (and c0 (B, H) for the LSTM)
        -> hs (T, B, H), hs[t] = h_{t+1}."""
        state0 = _present(c0=c0)
        validation.check_native(self, params, xs=xs, h0=h0, **state0)
        validation.check_call(self, params, activation, xs=xs, h0=h0, **state0)
        return self._unroll(params, xs, h0, activation, **state0)

    def states(
        self, params: Params[A], xs: A, h0: A, *, activation: str, c0: A | None = None
    ) -> dict[str, A]:
        """Every state part over the sequence, as ``unroll``: {"hs": hs} or, for the LSTM,
        {"hs": hs, "cs": cs}, each (T, B, H), cs[t] = c_{t+1}."""
        state0 = _present(c0=c0)
        validation.check_native(self, params, xs=xs, h0=h0, **state0)
        validation.check_call(self, params, activation, xs=xs, h0=h0, **state0)
        return self._states(params, xs, h0, activation, **state0)

    def bptt(
        self,
        params: Params[A],
        xs: A,
        h0: A,
        dhs: A,
        *,
        activation: str,
        truncate: int | None = None,
        c0: A | None = None,
        dcs: A | None = None,
    ) -> Grads[A]:
        """Gradients of L = sum_t <dhs_t, h_t> (+ sum_t <dcs_t, c_t>, LSTM; dcs None: zero):
        xs (T, B, D), h0 (B, H), dhs (T, B, H), c0 (B, H) and dcs (T, B, H) -> ``Grads``.

        ``truncate=k`` lets each loss term's gradient flow back through at most k cells;
        ``None`` (or k >= T) is full BPTT.
        """
        given = _present(c0=c0, dcs=dcs)
        validation.check_native(self, params, xs=xs, h0=h0, dhs=dhs, **given)
        validation.check_call(self, params, activation, xs=xs, h0=h0, dhs=dhs, **given)
        validation.check_truncate(self, truncate)
        state = {"c0": c0, "dcs": dcs} if "c" in params.cell.state else {}
        return self._bptt(params, xs, h0, dhs, activation, truncate, **state)

    # -- conversion helpers, outside anything timed ---------------------------------------
    def load(self, data: ProblemData) -> Inputs[A]:
        """A problem's arrays, checked to be finite, in native form."""
        validation.check_data(data)
        n = self.to_native
        params = Params(**{name: n(value) for name, value in data.params.items()})
        c0 = None if data.c0 is None else n(data.c0)
        return Inputs(params, n(data.xs), n(data.h0), n(data.dhs), c0)

    def grads_to_numpy(self, grads: Grads[A]) -> Grads[np.ndarray]:
        """Every gradient as NumPy."""
        return Grads(**{name: self.to_numpy(g) for name, g in grads.items()})


def _present(**arrays: A | None) -> dict[str, A]:
    """The keyword arrays that were given (not None)."""
    return {name: value for name, value in arrays.items() if value is not None}
