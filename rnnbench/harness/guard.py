"""Calls into a backend under a per-call time limit, with ``sys.exit`` turned into a failure.

``BackendRunner.run(name, backend, task)`` runs ``task(watched)`` in a daemon worker thread,
``watched`` being the backend behind a thin proxy that notes when each of its calls starts
(outside the measured work: one clock read per call). The main thread waits, so signals
reach it at once. When one call runs past the limit the task is abandoned: CallTimeoutError,
and the backend is not called again by this runner (the abandoned call may still be running
in the background; the process does not wait for it). SystemExit raised in the task becomes
BackendExitError; every other exception, KeyboardInterrupt included, is re-raised as is.

When the main thread is interrupted while a task runs, the task is cancelled: its next call
into the backend raises instead of running, and the main thread waits up to GRACE_S for the
call in progress to end, so that the process does not exit while a framework's native code
runs in the worker (which can abort it). ``unfinished_workers()`` lists the workers still
running (a hung or abandoned call), for the process to exit without waiting for them.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rnnbench.errors import BackendExitError, CallTimeoutError
from rnnbench.interface import Backend

T = TypeVar("T")

#: how often the main thread looks at the call in progress
POLL_S = 0.02
#: how long an interrupted task's call in progress is waited for
GRACE_S = 1.0

_workers: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


class _Cancelled(BaseException):
    """Raised in the worker at the next backend call once its task is cancelled."""


def unfinished_workers() -> list[threading.Thread]:
    """The worker threads whose task is still running (hung, abandoned or cancelled)."""
    return [thread for thread in _workers if thread.is_alive()]


class WatchedBackend:
    """``backend`` with the start of its outermost call in progress noted: ``started`` (a
    ``time.monotonic`` value, None between calls) and ``call`` (the method's name)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.started: float | None = None
        self.call = ""
        self.cancelled = False

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._backend, name)
        if name.startswith("_") or not callable(value):
            return value

        def watched(*args: Any, **kwargs: Any) -> Any:
            if self.cancelled:
                raise _Cancelled
            outermost = self.started is None
            if outermost:
                self.call, self.started = name, time.monotonic()
            try:
                return value(*args, **kwargs)
            finally:
                if outermost:
                    self.started = None

        self.__dict__[name] = watched  # later look-ups skip __getattr__
        return watched


class BackendRunner:
    """Runs tasks on backends, each call limited to ``limit_s`` seconds (None: no limit).
    ``call_names`` says, by method name, what a call is in messages (default: "<name> call"),
    for tasks that drive a backend through another object (a ``harness.workers.Runner``)."""

    def __init__(
        self, limit_s: float | None = None, call_names: Mapping[str, str] | None = None
    ) -> None:
        self.limit_s = limit_s
        self.call_names = dict(call_names or {})
        #: backends abandoned after a timeout, with the reason
        self.abandoned: dict[str, str] = {}

    def run(self, name: str, backend: Backend, task: Callable[[Backend], T]) -> T:
        """``task(backend)`` as described in the module docstring."""
        if name in self.abandoned:
            raise CallTimeoutError(f"not run: {self.abandoned[name]}")
        watched = WatchedBackend(backend)
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                outcome["value"] = task(watched)  # type: ignore[arg-type]
            except BaseException as exc:
                outcome["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=work, name=f"rnnbench {name}", daemon=True)
        _workers.add(thread)
        thread.start()
        try:
            while not done.wait(POLL_S):
                if self._overdue(watched.started):
                    call = self.call_names.get(watched.call, f"{watched.call} call")
                    reason = (
                        f"its {call} ran past --call-timeout {self.limit_s:g} s and was abandoned"
                    )
                    self.abandoned[name] = reason
                    raise CallTimeoutError(reason)
        except BaseException as exc:
            watched.cancelled = True
            if not isinstance(exc, CallTimeoutError):  # interrupted: let the call end
                thread.join(GRACE_S)
            raise
        error = outcome.get("error")
        if isinstance(error, SystemExit):
            raise BackendExitError(
                f"the backend called sys.exit({error.code!r}) instead of returning"
            ) from error
        if error is not None:
            raise error
        return outcome["value"]

    def _overdue(self, started: float | None) -> bool:
        """Whether a call that started at ``started`` (None: none in progress) is past the
        limit."""
        if self.limit_s is None or started is None:
            return False
        return time.monotonic() - started > self.limit_s
