"""Looking up, listing and registering backends; import isolation of the core."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rnnbench_backends.numpy_backend import NumpyBackend

import rnnbench
from rnnbench import registry
from rnnbench.errors import (
    BackendNameClashError,
    BackendUnavailableError,
    FrameworkMissingError,
    UnknownBackendError,
)


def test_importing_rnnbench_imports_no_framework():
    code = (
        "import sys, rnnbench, rnnbench.registry, rnnbench.conformance.plugin;"
        "rnnbench.list_backends();"
        "bad = [m for m in ('torch', 'jax', 'pandas', 'matplotlib') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(UnknownBackendError, match="known backends: numpy"):
        rnnbench.get_backend("nonesuch")


def test_register_by_class_and_by_string():
    class Renamed(NumpyBackend):
        name = "renamed-numpy"

    try:
        assert rnnbench.register_backend(Renamed) == "renamed-numpy"
        assert isinstance(rnnbench.get_backend("renamed-numpy"), Renamed)
        rnnbench.register_backend("rnnbench_backends.numpy_backend:NumpyBackend", "by-string")
        assert type(rnnbench.get_backend("by-string")) is NumpyBackend
        with pytest.raises(ValueError, match="already registered"):
            rnnbench.register_backend(NumpyBackend, "renamed-numpy")
    finally:
        rnnbench.unregister_backend("renamed-numpy")
        rnnbench.unregister_backend("by-string")


def test_module_class_spec_works_without_registration():
    backend = rnnbench.get_backend("rnnbench_backends.numpy_backend:NumpyBackend")
    assert isinstance(backend, NumpyBackend)


def test_missing_framework_names_the_extra():
    class NeedsMissing(NumpyBackend):
        name = "needs-missing"
        requires = ("surely_not_an_installed_module",)
        install_hint = "pip install 'rnnbench[missing]'"

    rnnbench.register_backend(NeedsMissing)
    try:
        with pytest.raises(BackendUnavailableError, match=r"pip install 'rnnbench\[missing\]'"):
            rnnbench.get_backend("needs-missing")
        info = rnnbench.describe_backend("needs-missing")
        assert not info.available and "surely_not_an_installed_module" in info.reason
    finally:
        rnnbench.unregister_backend("needs-missing")


def test_broken_plugin_is_reported_and_does_not_break_listing():
    rnnbench.register_backend("no_such_module_xyz:Backend", "broken-plugin")
    try:
        infos = {info.name: info for info in rnnbench.list_backends()}
        assert not infos["broken-plugin"].available
        assert "ModuleNotFoundError" in infos["broken-plugin"].reason
        assert infos["numpy"].available
        with pytest.raises(BackendUnavailableError, match="broken-plugin"):
            rnnbench.get_backend("broken-plugin")
    finally:
        rnnbench.unregister_backend("broken-plugin")


def test_non_backend_target_is_refused():
    rnnbench.register_backend("rnnbench.problems:Problem", "not-a-backend")
    try:
        with pytest.raises(BackendUnavailableError, match="not a subclass"):
            rnnbench.get_backend("not-a-backend")
    finally:
        rnnbench.unregister_backend("not-a-backend")


def test_unsupported_device_is_refused():
    with pytest.raises(ValueError, match="device='tpu'"):
        rnnbench.get_backend("numpy", device="tpu")


def test_builtins_come_first():
    assert registry.backend_names()[: len(registry.BUILTIN)] == list(registry.BUILTIN)


# -- the availability policy -------------------------------------------------------------------
class ConstructorBug(NumpyBackend):
    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        raise RuntimeError("bug in __init__")


class BrokenFramework(NumpyBackend):
    """Its framework is installed (numpy) but fails to import when the backend is built."""

    requires = ("numpy",)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        raise ImportError("the framework's shared library failed to load")


class NeedsMissingFramework(NumpyBackend):
    requires = ("surely_not_an_installed_module",)
    install_hint = "pip install surely-not"


class NoSuchDevice(NumpyBackend):
    devices = frozenset({"cpu", "cuda"})

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        if device == "cuda":
            raise FrameworkMissingError("no CUDA device here")


@pytest.fixture
def registered():
    """Register classes under names for one test."""
    names = []

    def register(cls, name):
        names.append(rnnbench.register_backend(cls, name))

    yield register
    for name in names:
        rnnbench.unregister_backend(name)


def test_a_runnable_backend_resolves_to_an_instance_under_its_name():
    found = registry.resolve_backend("numpy")
    assert (found.status, found.reason) == ("ok", "")
    assert isinstance(found.backend, NumpyBackend) and found.backend.name == "numpy"


@pytest.mark.parametrize(
    ("cls", "device", "reason"),
    [
        (NeedsMissingFramework, "cpu", "needs surely_not_an_installed_module, which is not "
         "installed: pip install surely-not"),
        (NoSuchDevice, "cuda", "no CUDA device here"),
        (NumpyBackend, "cuda", "does not support device='cuda'; supported: ['cpu']"),
    ],
)  # fmt: skip
def test_an_absent_framework_or_device_is_a_skip(registered, cls, device, reason):
    registered(cls, "absent")
    found = registry.resolve_backend("absent", device)
    assert (found.status, found.backend) == ("skipped", None)
    assert reason in found.reason


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (ConstructorBug, "backend 'broken' failed to construct: RuntimeError: bug in __init__"),
        (BrokenFramework, "backend 'broken' failed to load: the framework's shared library"),
        ("no_such_module_xyz:Backend", "failed to import: ModuleNotFoundError"),
        ("rnnbench.problems:Problem", "is not a subclass of rnnbench.Backend"),
    ],
)
def test_an_installed_backend_that_fails_to_load_is_a_failure(registered, target, reason):
    registered(target, "broken")
    found = registry.resolve_backend("broken")
    assert (found.status, found.backend) == ("failed", None)
    assert reason in found.reason


def test_an_unknown_name_is_not_a_question_of_availability():
    with pytest.raises(UnknownBackendError, match="unknown backend 'nonesuch'"):
        registry.resolve_backend("nonesuch")


# -- entry points that claim a taken name ------------------------------------------------------
MINE = "tests.mutants:SignFlipBackend"
THEIRS = "tests.mutants:OffByOneBackend"


def test_an_entry_point_with_a_free_name_is_registered(fake_entry_points):
    fake_entry_points(("mine", MINE), ("mine", MINE))  # listed twice, same target: no clash
    assert registry.resolve_backend("mine").status == "ok"
    assert "mine" in registry.backend_names()
    assert not any(info.warning for info in registry.list_backends())


def test_an_entry_point_claiming_a_builtin_name_is_reported_not_first_wins(fake_entry_points):
    fake_entry_points(("numpy", MINE))
    builtin = registry.BUILTIN["numpy"]
    info = {i.name: i for i in registry.list_backends()}["numpy"]
    assert not info.available
    for text in (info.warning, info.reason, info.target):
        assert builtin in text and MINE in text
    assert f"{builtin} (built-in)" in info.warning and f"{MINE} (entry point)" in info.warning
    with pytest.raises(BackendNameClashError, match="'numpy' is claimed by") as caught:
        rnnbench.get_backend("numpy")
    assert builtin in str(caught.value) and MINE in str(caught.value)
    found = registry.resolve_backend("numpy")
    assert found.status == "failed" and MINE in found.reason
    # the targets themselves still load, and other names are untouched
    assert type(rnnbench.get_backend(builtin)) is NumpyBackend
    assert registry.resolve_backend("torch-manual").status in ("ok", "skipped")


def test_two_entry_points_claiming_one_name_are_reported(fake_entry_points):
    fake_entry_points(("dup", MINE), ("other", THEIRS), ("dup", THEIRS))
    info = {i.name: i for i in registry.list_backends()}
    assert MINE in info["dup"].warning and THEIRS in info["dup"].warning
    assert info["other"].available and not info["other"].warning
    with pytest.raises(BackendNameClashError, match=r"mutants:SignFlipBackend.*OffByOneBackend"):
        rnnbench.get_backend("dup")


def test_registering_with_replace_settles_a_clash(fake_entry_points):
    fake_entry_points(("dup", MINE), ("dup", THEIRS))
    with pytest.raises(ValueError, match="already registered"):
        rnnbench.register_backend(THEIRS, "dup")
    rnnbench.register_backend(THEIRS, "dup", replace=True)
    assert rnnbench.get_backend("dup").name == "dup"
    assert not registry.describe_backend("dup").warning
