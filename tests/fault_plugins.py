"""Misbehaving backends for ``test_faults.py``: each is the NumPy backend with one fault.

They are importable as ``fault_plugins:<Class>`` (``rnnbench run --backend``) by a
subprocess whose PYTHONPATH holds this folder, and registered by name in-process.
"""

from __future__ import annotations

import gc
import sys
import threading
import time

import numpy as np
from rnnbench_backends.numpy_backend import NumpyBackend

#: seconds a sleeping backend sleeps per call: far past the tests' --call-timeout, and long
#: enough for a signal to be sent while it sleeps
SLEEP_S = 8.0


class NanBackend(NumpyBackend):
    """Returns a W_hh gradient full of NaN."""

    name = "fault-nan"

    def _bptt(self, *args):
        g = super()._bptt(*args)
        return g.replace(W_hh=np.full_like(g.W_hh, np.nan))


class TupleBackend(NumpyBackend):
    """Returns a plain tuple from bptt instead of Grads."""

    name = "fault-tuple"

    def _bptt(self, *args):
        return tuple(value for _, value in super()._bptt(*args).items())


class WrongDtypeBackend(NumpyBackend):
    """Promotes float32 gradients to float64."""

    name = "fault-dtype"

    def _bptt(self, *args):
        g = super()._bptt(*args)
        return type(g)(**{name: value.astype(np.float64) for name, value in g.items()})


class MutatingBackend(NumpyBackend):
    """Scales its input xs in place on every BPTT call."""

    name = "fault-mutates"

    def _bptt(self, params, xs, h0, dhs, activation, truncate):
        xs *= 0.5
        return super()._bptt(params, xs, h0, dhs, activation, truncate)


class SleepingBackend(NumpyBackend):
    """Hangs: every forward call sleeps SLEEP_S seconds."""

    name = "fault-sleeps"

    def _unroll(self, *args):
        time.sleep(SLEEP_S)
        return super()._unroll(*args)


class RaisingBackend(NumpyBackend):
    """Its BPTT raises."""

    name = "fault-raises"

    def _bptt(self, *args):
        raise RuntimeError("fault-raises: kernel failed")


class ExitingBackend(NumpyBackend):
    """Calls sys.exit(0) in BPTT."""

    name = "fault-exits"

    def _bptt(self, *args):
        sys.exit(0)


class ExitingConstructorBackend(NumpyBackend):
    """Calls sys.exit(3) when it is constructed, outside any guarded call."""

    name = "fault-exits-early"

    def __init__(self, device: str = "cpu") -> None:
        sys.exit(3)


class SlowGcBackend(NumpyBackend):
    """Arms a garbage-collection callback on its first BPTT call: the next collection in the
    main thread prints "gc callback sleeping" on stderr and sleeps, so that a signal sent
    then lands inside the callback, where Python swallows the exception it raises."""

    name = "fault-slow-gc"

    def _bptt(self, *args):
        _gc_trap.armed = True
        return super()._bptt(*args)


class _GcTrap:
    armed = False

    def __call__(self, phase: str, info: dict) -> None:
        if (
            phase == "start"
            and self.armed
            and threading.current_thread() is threading.main_thread()
        ):
            self.armed = False
            print("gc callback sleeping", file=sys.stderr, flush=True)
            time.sleep(SLEEP_S)


_gc_trap = _GcTrap()
gc.callbacks.append(_gc_trap)

#: the in-process table: every backend with a fault that shows in a run
FAULTY = (
    NanBackend,
    TupleBackend,
    WrongDtypeBackend,
    MutatingBackend,
    SleepingBackend,
    RaisingBackend,
    ExitingBackend,
    ExitingConstructorBackend,
)
