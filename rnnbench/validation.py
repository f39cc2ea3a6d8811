"""Checks of what is handed to a backend, so no raw broadcasting error reaches a user, and of
what a backend hands back.

Array types (each backend's native type), shapes and dtypes are checked on every public call
(cheap: no data is read). Finiteness is
checked once, on the NumPy side, when a problem is loaded: rnnbench *refuses* NaN or inf in
inputs and parameters. Non-finite values that arise *inside* a run (float32 overflow of an
exploding gradient) propagate and are reported by the decay analysis, never raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rnnbench.errors import InputError, OutputError, UnsupportedError
from rnnbench.problems import ARRAY_NAMES, ProblemData

if TYPE_CHECKING:
    from rnnbench.interface import Backend, Grads, Params

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


#: what each size symbol is, for the messages that refuse an empty one
DIMENSIONS: dict[str, str] = {"B": "batch", "D": "input size", "H": "hidden size"}


def type_name(kind: type) -> str:
    """'numpy.ndarray', 'torch.Tensor', 'jax.Array', 'tuple'."""
    module = kind.__module__
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


def device_name(array: Any) -> str:
    """'cpu' or 'cuda' for NumPy, torch and JAX arrays alike (a NumPy array is on the CPU)."""
    device = getattr(array, "device", "cpu")
    if callable(device):  # JAX before 0.4.31: a method
        device = device()
    kind = getattr(device, "type", None) or getattr(device, "platform", None) or device
    return "cuda" if kind == "gpu" else str(kind)


def check_native(backend: Backend, params: Params, **arrays: Any) -> None:
    """InputError unless ``params`` is a ``Params`` and every array is of the backend's
    native type (``Backend.native_type``), naming the first argument that is not: a NumPy
    array handed to a torch backend is refused here, not deep inside torch."""
    from rnnbench.interface import Params  # interface imports this module

    if not isinstance(params, Params):
        raise InputError(
            f"params must be rnnbench.Params(W_xh, W_hh, b), got {type_name(type(params))}"
        )
    native = backend.native_type()
    named = {"W_xh": params.W_xh, "W_hh": params.W_hh, "b": params.b, **arrays}
    for name, array in named.items():
        if not isinstance(array, native):
            raise InputError(
                f"{name} must be a {type_name(native)} (the native array of backend "
                f"{backend.name!r}; convert with backend.to_native), got "
                f"{type_name(type(array))}"
            )


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
    for symbol, meaning in DIMENSIONS.items():
        if sizes.get(symbol, 1) < 1:
            raise InputError(f"the {meaning} {symbol} must be >= 1, got {symbol} = 0")
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


def check_output(
    backend: Backend, call: str, name: str, value: Any, shape: tuple[int, ...], dtype: str
) -> None:
    """OutputError unless ``value``, the ``name`` result of ``call``, is a native array of
    ``shape`` and ``dtype`` on the backend's device; the message names what is wrong."""
    native = backend.native_type()
    if not isinstance(value, native):
        raise OutputError(
            f"{call} returned {name} as {type_name(type(value))}, expected {type_name(native)}"
        )
    problems = []
    if tuple(value.shape) != tuple(shape):
        problems.append(f"shape {tuple(value.shape)}, expected {tuple(shape)}")
    if dtype_name(value) != dtype:
        problems.append(f"dtype {dtype_name(value)}, expected {dtype}")
    if device_name(value) != backend.device:
        problems.append(f"device {device_name(value)}, expected {backend.device}")
    if problems:
        raise OutputError(f"{call} returned {name} with " + "; ".join(problems))


def check_grads(
    backend: Backend, grads: Grads, shapes: dict[str, tuple[int, ...]], dtype: str
) -> None:
    """OutputError unless ``grads`` (what ``bptt`` returned) is a ``Grads`` whose every
    gradient passes ``check_output`` against ``shapes`` (by gradient name); ``hs`` may be
    None from a backend that declares ``provides_adjoints = False``."""
    from rnnbench.interface import Grads  # interface imports this module

    if not isinstance(grads, Grads):
        raise OutputError(f"bptt returned {type_name(type(grads))}, expected rnnbench.Grads")
    for name, value in grads.items():
        if name == "hs" and value is None and not backend.provides_adjoints:
            continue
        check_output(backend, "bptt", name, value, shapes[name], dtype)
