"""Signals that end a command: SIGINT (Ctrl-C), SIGTERM (``timeout``, ``docker stop``, CI
cancellation) and SIGHUP (the terminal closed), all handled alike.

While ``handling()`` is active, each of them is recorded and raised as ``Interrupted`` (a
KeyboardInterrupt) in the main thread. Python cannot raise an exception out of a
garbage-collection callback or a ``__del__`` method (it prints "Exception ignored in ..."
and goes on), so the signal is also remembered: ``checkpoint()`` raises it again, and the
commands call it between tasks and before a run folder is published. Such swallowed
interrupts are not printed. The exit code of an interrupted command is 128 + the signal
number: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: the signals a command handles like Ctrl-C (SIGHUP does not exist on Windows)
SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(KeyboardInterrupt):
    """A command was interrupted by ``signum``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        """128 + the signal number, the shell's convention."""
        return 128 + self.signum


class _State:
    received: int | None = None  # the first signal received while handling
    deferring = False  # record signals without raising (around publishing a run)


_state = _State()


def _handle(signum: int, frame: Any) -> None:
    if _state.received is None:
        _state.received = signum
    if not _state.deferring:
        raise Interrupted(signum)


def received() -> int | None:
    """The signal received since ``handling()`` began, or None."""
    return _state.received


def checkpoint() -> None:
    """Raise Interrupted if a signal was received (even one whose exception was swallowed)."""
    if _state.received is not None:
        raise Interrupted(_state.received)


@contextmanager
def deferred(*, check: bool = True) -> Iterator[None]:
    """Signals arriving in the block are recorded, not raised; ``checkpoint()`` follows it
    unless ``check`` is False (cleanup that must finish; the signal stays recorded)."""
    previous = _state.deferring
    _state.deferring = True
    try:
        yield
    finally:
        _state.deferring = previous
    if check:
        checkpoint()


@contextmanager
def handling() -> Iterator[None]:
    """Handle SIGINT, SIGTERM and SIGHUP as described in the module docstring for the block,
    then restore the previous handlers. Outside the main thread it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _handle) for signum in SIGNALS}
    previous_hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt):
            if _state.received is None:
                _state.received = signal.SIGINT
            return
        previous_hook(info)

    _state.received = None
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: installed from C, cannot be restored from Python
                signal.signal(signum, handler)
        sys.unraisablehook = previous_hook
        _state.received = None
        _state.deferring = False
