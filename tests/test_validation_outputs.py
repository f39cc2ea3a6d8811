"""Native types on the way in and results on the way out: ``check_native``, ``check_output``,
``check_grads``, and the framework-neutral names their messages use."""

from __future__ import annotations

import array
import re
from types import SimpleNamespace

import numpy as np
import pytest

from rnnbench.cells import CELLS
from rnnbench.errors import InputError, OutputError
from rnnbench.interface import Grads, Params
from rnnbench.validation import check_grads, check_native, check_output, device_name, type_name

T, B, D, H = 5, 2, 3, 4


def _backend(native: type | tuple[type, ...] = np.ndarray, **declared) -> SimpleNamespace:
    """What these checks read of a backend: name, native type, device, missing adjoints."""
    defaults = {"name": "fake", "device": "cpu", "missing_adjoints": {}}
    return SimpleNamespace(native_type=lambda: native, **{**defaults, **declared})


def _raises(kind: type[Exception], message: str):
    return pytest.raises(kind, match="^" + re.escape(message) + "$")


def _params(cell: str = "elman") -> Params:
    return Params(**{name: np.zeros(shape) for name, shape in CELLS[cell].shapes(D, H).items()})


# -- type_name and device_name -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (np.ndarray, "numpy.ndarray"),
        (tuple, "tuple"),
        (float, "float"),
        (SimpleNamespace, "types.SimpleNamespace"),
        ((np.ndarray, np.generic), "numpy.ndarray or numpy.generic"),
    ],
)
def test_type_names_carry_their_module_unless_builtin(kind, name):
    assert type_name(kind) == name


@pytest.mark.parametrize(
    ("value", "device"),
    [
        (np.zeros(1), "cpu"),
        (SimpleNamespace(), "cpu"),  # no device (NumPy before 2.0): the CPU
        (SimpleNamespace(device="cpu"), "cpu"),
        (SimpleNamespace(device=SimpleNamespace(type="cuda")), "cuda"),  # torch
        (SimpleNamespace(device=SimpleNamespace(platform="gpu")), "cuda"),  # JAX
        (SimpleNamespace(device=SimpleNamespace(platform="cpu")), "cpu"),
        (SimpleNamespace(device=SimpleNamespace(platform="tpu")), "tpu"),
        (SimpleNamespace(device=SimpleNamespace(type="", platform="gpu")), "cuda"),
        (SimpleNamespace(device=lambda: SimpleNamespace(platform="gpu")), "cuda"),  # old JAX
    ],
)
def test_device_names_are_framework_neutral(value, device):
    assert device_name(value) == device


# -- check_native --------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_native_arguments_pass(cell):
    arrays = {"xs": np.zeros((T, B, D)), "h0": np.zeros((B, H))}
    assert check_native(_backend(), _params(cell), **arrays) is None


@pytest.mark.parametrize(
    ("params", "kind"),
    [((np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)), "tuple"), ({"W_xh": None}, "dict")],
)
def test_params_that_are_not_params_are_refused(params, kind):
    message = f"params must be rnnbench.Params (the cell's parameters by name), got {kind}"
    with _raises(InputError, message):
        check_native(_backend(), params, xs=np.zeros((T, B, D)))


def _foreign(name: str, kind: str, native: str = "numpy.ndarray") -> str:
    return (
        f"{name} must be a {native} (the native array of backend 'fake'; convert with "
        f"backend.to_native), got {kind}"
    )


def test_a_foreign_array_is_named_with_its_type():
    with _raises(InputError, _foreign("h0", "array.array")):
        check_native(_backend(), _params(), xs=np.zeros((T, B, D)), h0=array.array("d", [0.0]))


def test_a_foreign_parameter_is_named_before_any_argument():
    params = _params("gru").replace(b_x=[0.0] * 3 * H)
    with _raises(InputError, _foreign("b_x", "list")):
        check_native(_backend(), params, xs=[0.0])


def test_a_backend_with_several_native_types_accepts_each_and_names_them_all():
    backend = _backend(native=(np.ndarray, np.generic))
    assert check_native(backend, _params(), x_t=np.float64(0.0)) is None
    with _raises(InputError, _foreign("x_t", "list", "numpy.ndarray or numpy.generic")):
        check_native(backend, _params(), x_t=[0.0])


# -- check_output --------------------------------------------------------------------------------
def test_a_fitting_output_passes():
    assert (
        check_output(_backend(), "unroll", "hs", np.zeros((T, B, H)), (T, B, H), "float64") is None
    )
    assert check_output(_backend(), "unroll", "hs", np.zeros((T, B)), [T, B], "float64") is None


def test_an_output_of_a_foreign_type_is_named():
    with _raises(OutputError, "unroll returned hs as list, expected numpy.ndarray"):
        check_output(_backend(), "unroll", "hs", [0.0], (1,), "float64")


@pytest.mark.parametrize(
    ("value", "device", "problem"),
    [
        (np.zeros((T, B)), "cpu", "shape (5, 2), expected (5, 2, 4)"),
        (np.zeros((T, B, H), np.float32), "cpu", "dtype float32, expected float64"),
        (np.zeros((T, B, H)), "cuda", "device cpu, expected cuda"),
        (
            np.zeros((B, T), np.float32),
            "cuda",
            "shape (2, 5), expected (5, 2, 4); dtype float32, expected float64; "
            "device cpu, expected cuda",
        ),
    ],
)
def test_an_output_names_each_thing_wrong_with_it(value, device, problem):
    backend = _backend(device=device)
    with _raises(OutputError, f"cell returned h_t with {problem}"):
        check_output(backend, "cell", "h_t", value, (T, B, H), "float64")


class DeviceArray:
    """A native array of a fake accelerator backend: shape, dtype and a torch-like device."""

    def __init__(self, device: str) -> None:
        self.shape, self.dtype = (T, B, H), "float32"
        self.device = SimpleNamespace(type=device)


@pytest.mark.parametrize(("on", "backend_on"), [("cuda", "cpu"), ("cpu", "cuda")])
def test_an_output_on_another_device_names_both(on, backend_on):
    backend = _backend(native=DeviceArray, device=backend_on)
    with _raises(OutputError, f"unroll returned hs with device {on}, expected {backend_on}"):
        check_output(backend, "unroll", "hs", DeviceArray(on), (T, B, H), "float32")
    assert (
        check_output(backend, "unroll", "hs", DeviceArray(backend_on), (T, B, H), "float32") is None
    )


# -- check_grads ---------------------------------------------------------------------------------
def _shapes(cell: str) -> dict[str, tuple[int, ...]]:
    state = {"h0": (B, H), "c0": (B, H), "xs": (T, B, D), "hs": (T, B, H), "cs": (T, B, H)}
    return {**CELLS[cell].shapes(D, H), **state}


def _grads(cell: str, *leave_out: str, **shapes: tuple[int, ...]) -> Grads:
    wanted = {**_shapes(cell), **shapes}
    return Grads(
        **{name: np.zeros(wanted[name]) for name in CELLS[cell].grad_names if name not in leave_out}
    )


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_complete_grads_pass(cell):
    assert check_grads(_backend(), _grads(cell), CELLS[cell], _shapes(cell), "float64") is None


def test_grads_that_are_not_grads_are_refused():
    grads = dict(_grads("elman"))
    with _raises(OutputError, "bptt returned dict, expected rnnbench.Grads"):
        check_grads(_backend(), grads, CELLS["elman"], _shapes("elman"), "float64")


def test_an_adjoint_declared_missing_may_be_left_out():
    backend = _backend(missing_adjoints={"lstm": frozenset({"cs"})})
    assert (
        check_grads(backend, _grads("lstm", "cs"), CELLS["lstm"], _shapes("lstm"), "float64")
        is None
    )


@pytest.mark.parametrize(
    ("missing", "leave_out", "message"),
    [
        ({}, ("cs",), "bptt returned no cs for the lstm cell"),
        ({"gru": frozenset({"cs"})}, ("cs",), "bptt returned no cs for the lstm cell"),
        ({"lstm": frozenset({"cs"})}, ("hs", "cs"), "bptt returned no hs for the lstm cell"),
        ({}, ("c0", "hs", "cs"), "bptt returned no c0, hs, cs for the lstm cell"),
    ],
)
def test_an_undeclared_missing_gradient_is_named(missing, leave_out, message):
    backend = _backend(missing_adjoints=missing)
    with _raises(OutputError, message):
        check_grads(backend, _grads("lstm", *leave_out), CELLS["lstm"], _shapes("lstm"), "float64")


def test_each_gradient_is_checked_as_an_output():
    grads = _grads("gru", W_h=(H, 4 * H))
    with _raises(OutputError, "bptt returned W_h with shape (4, 16), expected (4, 12)"):
        check_grads(_backend(), grads, CELLS["gru"], _shapes("gru"), "float64")
    with _raises(OutputError, "bptt returned W_x with dtype float64, expected float32"):
        check_grads(_backend(), _grads("gru"), CELLS["gru"], _shapes("gru"), "float32")
