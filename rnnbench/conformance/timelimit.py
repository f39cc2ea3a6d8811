"""A time limit on every call the kit makes to a backend (``--rnnbench-timeout``).

Each backend under test gets one daemon thread that makes all of its calls, its
construction included, so thread-local state a framework sets up (a current device, a
grad mode) is where later calls find it. The test waits for each call at most the limit;
a call that does not return fails the test with ``BackendTimeoutError``, naming the
backend, the call and the problem it was on; every later call of that backend fails at
once with the same report, instead of waiting again. The hung call is left running on its
daemon thread, which does not keep the process alive at exit.

A thread, rather than ``signal.alarm``, because it works on every platform, in any thread
(pytest-xdist workers, IDE runners), and also when the backend hangs inside native code,
where a signal handler would only run once the call returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from rnnbench.interface import Backend, Inputs, Params

from .assertions import reproduction


class BackendTimeoutError(BaseException):
    """A backend call did not return within the kit's time limit.

    A BaseException, like pytest's own outcomes, so that hypothesis does not replay and
    shrink around a hang: the test fails at once, with the problem that hung.
    """


class CallThread:
    """One daemon thread that runs calls in order; ``call`` waits for each at most
    ``seconds`` and then raises BackendTimeoutError (and so does every later call)."""

    def __init__(self, label: str, seconds: float) -> None:
        self.label = label
        self.seconds = seconds
        self.hung: str | None = None
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[[], Any]]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name=f"rnnbench {label}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            future, job = self._jobs.get()
            future.set_running_or_notify_cancel()
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the waiting test, which re-raises it
                future.set_exception(exc)

    def call(self, job: Callable[[], Any], describe: Callable[[], tuple[str, str]]) -> Any:
        """``job()``, run on the thread. If it hangs, ``describe()`` gives the call, as
        code, and the lines that reproduce it, for the report."""
        if self.hung is None:
            future: Future = Future()
            self._jobs.put((future, job))
            try:
                return future.result(timeout=self.seconds)
            except FutureTimeout:
                call, details = describe()
                self.hung = (
                    f"{self.label}: {call} did not return within {self.seconds:g} s "
                    f"(--rnnbench-timeout); later calls of this backend fail at once"
                    + (f"\n{details}" if details else "")
                )
        raise BackendTimeoutError(self.hung)


class TimedBackend:
    """A backend whose public methods run on a ``CallThread``; attributes pass through.

    It remembers the problem and native inputs of its last ``load``, so a report of a hung
    call can say which problem it was on and name the arguments as in the reproduction.
    """

    def __init__(self, backend: Backend, thread: CallThread) -> None:
        self._backend = backend
        self._thread = thread
        self._loaded: tuple[Any, Inputs] | None = None

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._backend, name)
        if name.startswith("_") or not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            result = self._thread.call(
                lambda: value(*args, **kwargs), lambda: self._report(name, args, kwargs)
            )
            if name == "load":
                data = args[0] if args else kwargs["data"]
                self._loaded = (data.problem, result)
            return result

        return timed

    def __repr__(self) -> str:
        return f"{self._backend!r} (each call limited to {self._thread.seconds:g} s)"

    def _report(self, method: str, args: tuple, kwargs: dict) -> tuple[str, str]:
        names = [self._name_of(a) for a in args]
        names += [f"{k}={v!r}" for k, v in kwargs.items()]
        call = f"b.{method}({', '.join(names)})"
        if self._loaded is None:
            return call, ""
        problem, _ = self._loaded
        return call, "  on the last problem loaded:\n" + reproduction(self._backend, problem, call)

    def _name_of(self, argument: Any) -> str:
        """``i.xs`` etc. when the argument is one of the last loaded inputs, else a summary."""
        if self._loaded is not None:
            _, inputs = self._loaded
            for name in ("params", "xs", "h0", "dhs"):
                if argument is getattr(inputs, name):
                    return f"i.{name}"
        if isinstance(argument, Params):
            return "Params(...)"
        shape = getattr(argument, "shape", None)
        if shape is not None:
            return f"<array {tuple(shape)} {getattr(argument, 'dtype', '')}>"
        return repr(argument)
