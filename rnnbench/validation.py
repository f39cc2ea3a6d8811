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

from rnnbench.cells import CELLS, Cell, check_activation
from rnnbench.errors import InputError, OutputError, UnsupportedError
from rnnbench.problems import ProblemData

if TYPE_CHECKING:
    from rnnbench.interface import Backend, Grads, Params

#: expected shape of every argument other than the parameters (whose shapes are the cell's,
#: ``Cell.params``), in symbols fixed by the first array that has them
SHAPES: dict[str, tuple[str, ...]] = {
    "x_t": ("B", "D"),
    "h_prev": ("B", "H"),
    "c_prev": ("B", "H"),
    "xs": ("T", "B", "D"),
    "h0": ("B", "H"),
    "c0": ("B", "H"),
    "dhs": ("T", "B", "H"),
    "dcs": ("T", "B", "H"),
}
#: arguments that only a cell with a c state takes
C_ARGUMENTS = ("c_prev", "c0", "dcs")
#: the c state argument each public call requires, by the argument that marks the call
C_REQUIRED = {"x_t": "c_prev", "xs": "c0"}


def dtype_name(array: Any) -> str:
    """'float32' for NumPy, torch and JAX arrays alike."""
    return str(getattr(array, "dtype", type(array).__name__)).removeprefix("torch.")


#: what each size symbol is, for the messages that refuse an empty one
DIMENSIONS: dict[str, str] = {"B": "batch", "D": "input size", "H": "hidden size"}


def type_name(kind: type | tuple[type, ...]) -> str:
    """'numpy.ndarray', 'torch.Tensor', 'jax.Array', 'tuple'; the types of a tuple joined by
    ' or ' (``Backend.native_type`` may return several)."""
    if isinstance(kind, tuple):
        return " or ".join(type_name(one) for one in kind)
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
            f"params must be rnnbench.Params (the cell's parameters by name), got "
            f"{type_name(type(params))}"
        )
    native = backend.native_type()
    named = {**params, **arrays}
    for name, array in named.items():
        if not isinstance(array, native):
            raise InputError(
                f"{name} must be a {type_name(native)} (the native array of backend "
                f"{backend.name!r}; convert with backend.to_native), got "
                f"{type_name(type(array))}"
            )


def check_cell(backend: Backend, cell: Cell, activation: str) -> None:
    """UnsupportedError unless the backend declares the cell and the activation;
    InputError when a gated cell is asked for an activation other than "tanh"."""
    if cell.name not in backend.cells:
        raise UnsupportedError(
            f"backend {backend.name!r} does not support cell {cell.name!r}; "
            f"supported: {sorted(backend.cells)}"
        )
    check_activation(cell, activation)
    if activation not in backend.activations:
        raise UnsupportedError(
            f"backend {backend.name!r} does not support activation={activation!r}; "
            f"supported: {sorted(backend.activations)}"
        )


def check_call(backend: Backend, params: Params, activation: str, **arrays: Any) -> None:
    """Raise InputError/UnsupportedError unless the call's arguments fit the contract: the
    parameters' names name a cell the backend declares, every shape fits that cell, the
    c state is given exactly when the cell has one, and all dtypes agree."""
    cell = params.cell
    check_cell(backend, cell, activation)
    has_c = "c" in cell.state
    for name in C_ARGUMENTS:
        if name in arrays and not has_c:
            raise InputError(f"{name} was given but the {cell.name} cell has no c state")
    for marker, needed in C_REQUIRED.items():
        if has_c and marker in arrays and needed not in arrays:
            raise InputError(f"the {cell.name} cell needs {needed} (B, H): its c state")
    named = {**{name: params[name] for name in cell.param_names}, **arrays}
    expected_shapes = {**dict(cell.params), **SHAPES}
    sizes: dict[str, int] = {}
    for name, array in named.items():
        shape = getattr(array, "shape", None)
        if shape is None:
            raise InputError(f"{name} must be an array, got {type(array).__name__}")
        symbols = expected_shapes[name]
        if not _fits(symbols, tuple(shape), sizes):
            raise InputError(_shape_message(cell, name, symbols, tuple(shape), sizes))
    if sizes.get("T", 1) < 1:
        raise InputError("xs must hold at least one time step (T >= 1), got T = 0")
    for symbol, meaning in DIMENSIONS.items():
        if sizes.get(symbol, 1) < 1:
            raise InputError(f"the {meaning} {symbol} must be >= 1, got {symbol} = 0")
    dtypes = {name: dtype_name(array) for name, array in named.items()}
    first_name = cell.param_names[0]
    first = dtypes[first_name]
    if first not in backend.dtypes:
        raise UnsupportedError(
            f"backend {backend.name!r} does not support dtype {first}; "
            f"supported: {sorted(backend.dtypes)}"
        )
    for name, dtype in dtypes.items():
        if dtype != first:
            raise InputError(
                f"{name} has dtype {dtype} but {first_name} has {first}; all must match"
            )


def _fits(symbols: tuple[str, ...], shape: tuple[int, ...], sizes: dict[str, int]) -> bool:
    """Whether ``shape`` fits ``symbols`` ("D", "H", "kH", ...) given the sizes fixed so far;
    records the sizes it fixes. A "kH" entry fixes H = size / k."""
    if len(shape) != len(symbols):
        return False
    for symbol, size in zip(symbols, shape, strict=True):
        factor, base = (int(symbol[:-1]), symbol[-1]) if len(symbol) > 1 else (1, symbol)
        if size % factor or sizes.setdefault(base, int(size) // factor) * factor != size:
            return False
    return True


def _shape_message(
    cell: Cell, name: str, symbols: tuple[str, ...], shape: tuple[int, ...], sizes: dict
) -> str:
    """'W_h must have shape (H, 4H) for the lstm cell with H=5, got (5, 15)', naming the
    other cell whose shape it is, if any."""
    expected = "(" + ", ".join(symbols) + ")"
    fixed = ", ".join(f"{s}={v}" for s, v in sizes.items() if s in "".join(symbols))
    where = f" for the {cell.name} cell" if name in cell.param_names else ""
    message = f"{name} must have shape {expected}{where}"
    message += f" with {fixed}, got {shape}" if fixed else f", got {shape}"
    for other in CELLS.values():
        theirs = dict(other.params).get(name)
        if other is not cell and theirs is not None and _fits(theirs, shape, dict(sizes)):
            message += f" (the shape of the {other.name} cell's {name})"
    return message


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
    for name, array in data.arrays().items():
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
    backend: Backend, grads: Grads, cell: Cell, shapes: dict[str, tuple[int, ...]], dtype: str
) -> None:
    """OutputError unless ``grads`` (what ``bptt`` returned) is a ``Grads`` holding every
    gradient of ``cell`` but the adjoints the backend declares missing for it
    (``Backend.missing_adjoints``), each passing ``check_output`` against ``shapes`` (by
    gradient name)."""
    from rnnbench.interface import Grads  # interface imports this module

    if not isinstance(grads, Grads):
        raise OutputError(f"bptt returned {type_name(type(grads))}, expected rnnbench.Grads")
    missing = backend.missing_adjoints.get(cell.name, frozenset())
    expected = [name for name in cell.grad_names if name not in missing]
    absent = [name for name in expected if name not in grads]
    if absent:
        raise OutputError(f"bptt returned no {', '.join(absent)} for the {cell.name} cell")
    for name in expected:
        check_output(backend, "bptt", name, grads[name], shapes[name], dtype)
