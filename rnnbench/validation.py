"""Checks of what is handed to a backend, so no raw broadcasting error reaches a user.

Shapes and dtypes are checked on every public call (cheap: no data is read). Finiteness is
checked once, on the NumPy side, when a problem is loaded: rnnbench *refuses* NaN or inf in
inputs and parameters. Non-finite values that arise *inside* a run (float32 overflow of an
exploding gradient) propagate and are reported by the decay analysis, never raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rnnbench.errors import InputError, UnsupportedError
from rnnbench.problems import ARRAY_NAMES, ProblemData

if TYPE_CHECKING:
    from rnnbench.interface import Backend, Params

#: expected shape of every argument, in symbols fixed by W_xh (D, H) and the first array
SHAPES: dict[str, tuple[str, ...]] = {
    "W_xh": ("D", "H"),
    "W_hh": ("H", "H"),
    "b": ("H",),
    "x_t": ("B", "D"),
    "h_prev": ("B", "H"),
    "xs": ("T", "B", "D"),
    "h0": ("B", "H"),
    "dhs": ("T", "B", "H"),
}


def dtype_name(array: Any) -> str:
    """'float32' for NumPy, torch and JAX arrays alike."""
    return str(getattr(array, "dtype", type(array).__name__)).removeprefix("torch.")


def check_call(backend: Backend, params: Params, activation: str, **arrays: Any) -> None:
    """Raise InputError/UnsupportedError unless the call's arguments fit the contract."""
    if activation not in backend.activations:
        raise UnsupportedError(
            f"backend {backend.name!r} does not support activation={activation!r}; "
            f"supported: {sorted(backend.activations)}"
        )
    named = {"W_xh": params.W_xh, "W_hh": params.W_hh, "b": params.b, **arrays}
    sizes: dict[str, int] = {}
    for name, array in named.items():
        shape = getattr(array, "shape", None)
        if shape is None:
            raise InputError(f"{name} must be an array, got {type(array).__name__}")
        symbols = SHAPES[name]
        expected = "(" + ", ".join(symbols) + ")"
        if len(shape) != len(symbols):
            raise InputError(f"{name} must have shape {expected}, got {tuple(shape)}")
        for symbol, size in zip(symbols, shape, strict=True):
            if sizes.setdefault(symbol, int(size)) != size:
                fixed = ", ".join(f"{s}={sizes.get(s, '?')}" for s in symbols)
                raise InputError(
                    f"{name} must have shape {expected} with {fixed}, got {tuple(shape)}"
                )
    if sizes.get("T", 1) < 1:
        raise InputError("xs must hold at least one time step (T >= 1), got T = 0")
    dtypes = {name: dtype_name(array) for name, array in named.items()}
    first = dtypes["W_xh"]
    if first not in backend.dtypes:
        raise UnsupportedError(
            f"backend {backend.name!r} does not support dtype {first}; "
            f"supported: {sorted(backend.dtypes)}"
        )
    for name, dtype in dtypes.items():
        if dtype != first:
            raise InputError(f"{name} has dtype {dtype} but W_xh has {first}; all must match")


def check_truncate(backend: Backend, truncate: int | None) -> None:
    """``truncate`` must be None or an integer >= 1 that the backend supports."""
    if truncate is None:
        return
    if isinstance(truncate, bool) or not isinstance(truncate, int | np.integer) or truncate < 1:
        raise InputError(f"truncate must be None or an integer >= 1, got {truncate!r}")
    if not backend.supports_truncation:
        raise UnsupportedError(f"backend {backend.name!r} does not support truncated BPTT")


def check_data(data: ProblemData) -> None:
    """Refuse NaN or inf in any array of a problem, naming the array."""
    for name in ARRAY_NAMES:
        array = getattr(data, name)
        bad = array.size - int(np.count_nonzero(np.isfinite(array)))
        if bad:
            raise InputError(
                f"{name} holds {bad} NaN or inf value(s); rnnbench refuses non-finite inputs"
            )
