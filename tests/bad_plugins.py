"""Broken third-party backends: the kit must name each one and what is wrong with it,
and none may break the discovery or the tests of the others (see ``test_kit.py``).

Each sets its own ``name``: the name its entry point registers it under.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
from rnnbench_backends.numpy_backend import NumpyBackend

from rnnbench import Grads

#: what ``test_kit.py`` registers through a fake distribution's entry points
ENTRY_POINTS = {
    "wrong-shape": "bad_plugins:WrongShapeBackend",
    "wrong-dtype": "bad_plugins:WrongDtypeBackend",
    "raises-in-bptt": "bad_plugins:RaisingBackend",
    "needs-missing": "bad_plugins:NeedsMissingFramework",
    "import-fails": "bad_plugin_import_fails:Backend",
    "sleeps-in-bptt": "bad_plugins:SleepingBackend",
    "no-adjoints": "bad_plugins:NoAdjointsBackend",
    "missing-adjoints": "bad_plugins:MissingAdjointsBackend",
    "eager-import": "bad_plugin_eager_import:Backend",
}

#: the source of ``bad_plugin_import_fails``, a module that fails when it is imported
IMPORT_FAILS_SOURCE = 'raise RuntimeError("this plugin is broken at import")\n'

#: the source of ``bad_plugin_eager_import``, which imports its "framework" (the empty module
#: ``fake_framework``) at the top of its module instead of in the backend's constructor
EAGER_IMPORT_SOURCE = """
import fake_framework
from rnnbench_backends.numpy_backend import NumpyBackend


class Backend(NumpyBackend):
    name = "eager-import"
    requires = ("fake_framework",)
"""


class WrongShapeBackend(NumpyBackend):
    """States and per-step adjoints flattened to (T*B, H) instead of (T, B, H)."""

    name = "wrong-shape"

    def _unroll(self, params, xs, h0, activation):
        hs = super()._unroll(params, xs, h0, activation)
        return hs.reshape(-1, hs.shape[-1])

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        g = super()._bptt(params, xs, h0, dhs, activation, truncate)
        return g.replace(hs=g.hs.reshape(-1, g.hs.shape[-1]))


class WrongDtypeBackend(NumpyBackend):
    """Promotes float32 runs to float64 (a Python-float or float64 constant in the cell)."""

    name = "wrong-dtype"

    def _unroll(self, params, xs, h0, activation):
        return super()._unroll(params, xs, h0, activation).astype(np.float64)

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        g = super()._bptt(params, xs, h0, dhs, activation, truncate)
        return type(g)(**{name: value.astype(np.float64) for name, value in g.items()})


class RaisingBackend(NumpyBackend):
    """Its forward works; its bptt raises."""

    name = "raises-in-bptt"

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        raise RuntimeError("raises-in-bptt: kernel failed")


class NeedsMissingFramework(NumpyBackend):
    """Declares a framework that is not installed: unavailable, skipped with the hint."""

    name = "needs-missing"
    requires = ("surely_not_an_installed_framework",)
    install_hint = "pip install surely-not-an-installed-framework"


class SleepingBackend(NumpyBackend):
    """Its forward works; its bptt hangs (for longer than any test waits)."""

    name = "sleeps-in-bptt"

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        time.sleep(600)
        return super()._bptt(params, xs, h0, dhs, activation, truncate)


class NoAdjointsBackend(NumpyBackend):
    """Declares that it gives no per-step adjoints, and returns none: a correct backend."""

    name = "no-adjoints"
    missing_adjoints: ClassVar[dict[str, frozenset[str]]] = {"elman": frozenset({"hs"})}

    def _bptt(self, params, xs, h0, dhs, activation, truncate, **state):
        g = super()._bptt(params, xs, h0, dhs, activation, truncate, **state)
        return Grads(**{name: value for name, value in g.items() if name != "hs"})


class MissingAdjointsBackend(NoAdjointsBackend):
    """Returns no per-step adjoints but does not declare it."""

    name = "missing-adjoints"
    missing_adjoints: ClassVar[dict[str, frozenset[str]]] = {}
