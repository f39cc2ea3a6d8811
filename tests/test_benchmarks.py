"""The asv suite runs: every benchmark module imports, every parameter combination's setup
runs (or skips with NotImplementedError) and every benchmark is called once, on tiny sizes
(RNNBENCH_ASV_TINY); every track_ returns a finite number, and every benchmark declares a
version (and a track_ its unit) so that its history survives edits of its code."""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnbench.reference import ReferenceBackend
from rnnbench.registry import register_backend, unregister_backend

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import benchmarks  # noqa: E402  (the suite is a top-level folder, not an installed package)
from benchmarks import common  # noqa: E402

PREFIXES = ("time_", "timeraw_", "mem_", "peakmem_", "track_")


def benchmark_modules() -> list:
    """Every module of the suite, imported."""
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__))
    return [importlib.import_module(f"benchmarks.{name}") for name in names]


def benchmark_methods() -> list[tuple[type, str]]:
    """(class, method name) of every benchmark method asv would find."""
    found = []
    for module in benchmark_modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or cls.__name__.startswith("_"):
                continue
            found += [(cls, name) for name in dir(cls) if name.startswith(PREFIXES)]
    return found


METHODS = benchmark_methods()
IDS = [f"{cls.__name__}.{name}" for cls, name in METHODS]


@pytest.fixture(autouse=True)
def tiny_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.TINY_ENV, "1")


_setup_caches: dict[object, object] = {}


def setup_cache(cls: type) -> object:
    """What asv hands setup and the benchmark first (None without a setup_cache); computed
    once per setup_cache function, as asv does for classes that inherit the same one."""
    function = getattr(cls, "setup_cache", None)
    if function is None:
        return None
    if function not in _setup_caches:
        _setup_caches[function] = cls().setup_cache()
    return _setup_caches[function]


def test_suite_has_benchmarks() -> None:
    kinds = {name.split("_")[0] for _, name in METHODS}
    assert {"time", "peakmem", "track"} <= kinds


@pytest.mark.parametrize(("cls", "name"), METHODS, ids=IDS)
def test_declares_version_and_unit(cls: type, name: str) -> None:
    method = getattr(cls, name)
    assert getattr(method, "version", getattr(cls, "version", None)), f"{cls.__name__} version"
    if name.startswith("track_"):
        assert getattr(method, "unit", getattr(cls, "unit", None)), f"{name} has no unit"


@pytest.mark.parametrize(("cls", "name"), METHODS, ids=IDS)
def test_every_case_runs_once(cls: type, name: str) -> None:
    params = getattr(cls, "params", ())
    if params and not isinstance(params[0], list | tuple):
        params = (params,)  # one parameter, given as a bare list
    cache = setup_cache(cls)
    ran, skipped = [], []
    for combo in itertools.product(*params):
        args = combo if cache is None else (cache, *combo)
        bench = cls()
        try:
            if hasattr(bench, "setup"):
                bench.setup(*args)
        except NotImplementedError as exc:
            skipped.append((combo, str(exc)))
            continue
        value = getattr(bench, name)(*args)
        if hasattr(bench, "teardown"):
            bench.teardown(*args)
        if name.startswith("track_"):
            assert isinstance(value, int | float), f"{name}{combo} returned {value!r}"
            assert math.isfinite(value), f"{name}{combo} returned {value!r}"
        ran.append(combo)
    # the NumPy reference is always there, so every benchmark runs at least its cases
    assert any(common.REFERENCE in combo for combo in ran), f"all skipped: {skipped[:3]}"


def test_asv_check_passes_and_leaves_the_tree_clean():
    """CI's `asv check`: the suite validates in this Python and no file in the tree changes."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    pytest.importorskip("asv", reason="asv is not installed: pip install 'rnnbench[bench]'")
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "asv_check.sh")],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "working tree unchanged" in result.stdout


class BrokenAtConstruction(ReferenceBackend):
    """Installed, but its constructor has a bug at this commit."""

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        raise RuntimeError("bug at this commit")


class FrameworkAbsent(ReferenceBackend):
    requires = ("surely_not_an_installed_framework",)


@pytest.mark.parametrize(
    ("cls", "raised", "message"),
    [
        (BrokenAtConstruction, RuntimeError, "RuntimeError: bug at this commit"),
        (FrameworkAbsent, NotImplementedError, "surely_not_an_installed_framework"),
    ],
)
def test_the_suite_fails_a_broken_backend_and_skips_an_absent_one(cls, raised, message):
    name = register_backend(cls, "asv-policy-case")
    try:
        with pytest.raises(raised, match=message):
            common.get_backend(name)
    finally:
        unregister_backend(name)
        common._backends.pop(name, None)
    with pytest.raises(NotImplementedError, match="unknown"):
        common.get_backend("not-registered-at-this-commit")
