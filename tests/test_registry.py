"""Looking up, listing and registering backends; import isolation of the core."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rnnbench_backends.numpy_backend import NumpyBackend

import rnnbench
from rnnbench import registry
from rnnbench.errors import BackendUnavailableError, UnknownBackendError


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
