"""The Backend contract every implementation of the recurrent network fulfils.

Row convention: ``h_t = f(x_t @ W_xh + h_{t-1} @ W_hh + b)`` with x_t (B, D), h (B, H).
The loss is ``L = sum_t <dhs_t, h_t>``; ``bptt`` returns its gradients.
A backend works on its own native arrays. ``to_native``/``to_numpy`` convert, and are never
inside timed code. The public methods check array types (``native_type``), shapes and
dtypes (see ``validation``) and then call the ``_cell``/``_unroll``/``_bptt`` hooks a
backend implements.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from rnnbench import validation
from rnnbench.activations import ACTIVATIONS
from rnnbench.problems import ProblemData

A = TypeVar("A")


@dataclass(frozen=True)
class Params(Generic[A]):
    """Cell parameters: W_xh (D, H), W_hh (H, H), b (H,)."""

    W_xh: A
    W_hh: A
    b: A


@dataclass(frozen=True)
class Grads(Generic[A]):
    """Gradients of L: W_xh (D, H), W_hh (H, H), b (H,), h0 (B, H), xs (T, B, D), and
    hs (T, B, H), the adjoint dL/dh_t of every step (what gradient-decay curves are made of);
    ``hs`` is None from a backend that declares ``provides_adjoints = False``."""

    W_xh: A
    W_hh: A
    b: A
    h0: A
    xs: A
    hs: A | None

    def items(self) -> list[tuple[str, A]]:
        """(name, gradient) pairs in a fixed order."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


@dataclass(frozen=True)
class Inputs(Generic[A]):
    """A problem's arrays in a backend's native form."""

    params: Params[A]
    xs: A
    h0: A
    dhs: A


class Backend(Generic[A]):
    """Base class of a backend. Subclasses set the class attributes and implement the hooks."""

    name: ClassVar[str] = ""
    dtypes: ClassVar[frozenset[str]] = frozenset({"float32", "float64"})
    activations: ClassVar[frozenset[str]] = frozenset(ACTIVATIONS)
    devices: ClassVar[frozenset[str]] = frozenset({"cpu"})
    supports_truncation: ClassVar[bool] = True
    #: whether ``bptt`` returns the per-step adjoints ``Grads.hs``; a layer that hides its
    #: recurrence may declare False and return ``hs=None``
    provides_adjoints: ClassVar[bool] = True
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

    def _cell(self, params: Params[A], x_t: A, h_prev: A, activation: str) -> A:
        raise NotImplementedError

    def _unroll(self, params: Params[A], xs: A, h0: A, activation: str) -> A:
        raise NotImplementedError

    def _bptt(
        self, params: Params[A], xs: A, h0: A, dhs: A, activation: str, truncate: int | None
    ) -> Grads[A]:
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
    def cell(self, params: Params[A], x_t: A, h_prev: A, *, activation: str) -> A:
        """One step: x_t (B, D), h_prev (B, H) -> h_t (B, H)."""
        validation.check_native(self, params, x_t=x_t, h_prev=h_prev)
        validation.check_call(self, params, activation, x_t=x_t, h_prev=h_prev)
        return self._cell(params, x_t, h_prev, activation)

    def unroll(self, params: Params[A], xs: A, h0: A, *, activation: str) -> A:
        """The cell over a sequence: xs (T, B, D), h0 (B, H) -> hs (T, B, H), hs[t] = h_{t+1}."""
        validation.check_native(self, params, xs=xs, h0=h0)
        validation.check_call(self, params, activation, xs=xs, h0=h0)
        return self._unroll(params, xs, h0, activation)

    def bptt(
        self,
        params: Params[A],
        xs: A,
        h0: A,
        dhs: A,
        *,
        activation: str,
        truncate: int | None = None,
    ) -> Grads[A]:
        """Gradients of L = sum_t <dhs_t, h_t>: xs (T, B, D), h0 (B, H), dhs (T, B, H).

        ``truncate=k`` lets each loss term's gradient flow back through at most k cells;
        ``None`` (or k >= T) is full BPTT.
        """
        validation.check_native(self, params, xs=xs, h0=h0, dhs=dhs)
        validation.check_call(self, params, activation, xs=xs, h0=h0, dhs=dhs)
        validation.check_truncate(self, truncate)
        return self._bptt(params, xs, h0, dhs, activation, truncate)

    # -- conversion helpers, outside anything timed ---------------------------------------
    def load(self, data: ProblemData) -> Inputs[A]:
        """A problem's arrays, checked to be finite, in native form."""
        validation.check_data(data)
        n = self.to_native
        params = Params(n(data.W_xh), n(data.W_hh), n(data.b))
        return Inputs(params, n(data.xs), n(data.h0), n(data.dhs))

    def grads_to_numpy(self, grads: Grads[A]) -> Grads[np.ndarray]:
        """Every gradient as NumPy (an absent ``hs`` stays None)."""
        return Grads(**{name: None if g is None else self.to_numpy(g) for name, g in grads.items()})
