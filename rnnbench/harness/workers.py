"""Where a backend runs while `rnnbench run` times it: in this process, or isolated in a
worker process of its own (``--isolate``), so that torch's OpenMP pool, XLA's threads and
OpenBLAS never share a process.

Both kinds are a ``Runner`` with the same four calls, so the sweep does not care which it
has: ``load`` (data, native arrays, warm-up and first calls at one size), ``time`` (one timed
call of a phase, measured where the call runs), ``outputs`` (peak memory of one BPTT call and
every output as NumPy) and ``threads`` (the thread settings in force there). Workers are
started with the ``spawn`` method (a fresh interpreter: no framework threads inherited),
build their backend by name from its class, apply the thread limit before any framework is
imported, ignore Ctrl-C (the parent stops them) and send exceptions back, re-raised in the
parent as themselves when they pickle, else as WorkerError.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from typing import Any, Protocol

from rnnbench.errors import RnnbenchError
from rnnbench.harness import measure, threads, timing
from rnnbench.interface import Backend
from rnnbench.problems import Problem, ProblemData, make_data
from rnnbench.registry import get_backend, load_backend_class, register_backend

PHASES = ("forward", "bptt")


class WorkerError(RnnbenchError, RuntimeError):
    """A worker process failed, or raised an exception that could not be sent back as is."""


class Runner(Protocol):
    """One backend, wherever it runs."""

    def load(self, problem: Problem) -> timing.Prepared: ...
    def time(self, phase: str) -> float: ...
    def outputs(self) -> measure.BackendOutputs: ...
    def threads(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


class InProcessRunner:
    """A backend in this process."""

    def __init__(self, backend: Backend, requested_threads: int | None = None) -> None:
        self.backend = backend
        self.requested_threads = requested_threads
        self._calls: dict[str, Any] = {}
        self._inputs: Any = None
        self._data: ProblemData | None = None

    def load(self, problem: Problem) -> timing.Prepared:
        """Seeded data of ``problem`` in native form, warmed up; the first calls timed."""
        self._calls.clear()
        self._data = make_data(problem)
        self._inputs = self.backend.load(self._data)
        prepared = timing.prepare(self.backend, self._inputs, problem.activation)
        calls = timing.backend_calls(self.backend, self._inputs, problem.activation)
        self._calls = {
            phase: timing.timed_once(call, self.backend.synchronize)
            for phase, call in zip(PHASES, calls, strict=True)
        }
        return prepared

    def time(self, phase: str) -> float:
        """Seconds of one synchronized call of ``phase`` ("forward" or "bptt")."""
        return self._calls[phase]()

    def outputs(self) -> measure.BackendOutputs:
        """Peak memory of one BPTT call, the forward states and every gradient, checked."""
        if self._data is None:
            raise RuntimeError("outputs() before load()")
        return measure.backend_outputs(self.backend, self._inputs, self._data)

    def threads(self) -> dict[str, Any]:
        """The thread settings in force in this process."""
        return threads.threads_in_force(self.requested_threads)

    def close(self) -> None:
        """Drop the native arrays."""
        self._inputs = self._data = None
        self._calls.clear()


def _serve(conn: Any, name: str, cls: type[Backend], device: str, n_threads: int | None) -> None:
    """A worker's main loop: build the backend, then answer (method, *args) requests with
    ("ok", value) or ("error", exception) until ("close",) or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        threads.limit_threads(n_threads)
        register_backend(cls, name, replace=True)
        runner = InProcessRunner(get_backend(name, device), n_threads)
        threads.limit_threads(n_threads)  # torch's pool, now that the framework is imported
    except Exception as exc:
        _reply(conn, "error", exc)
        return
    _reply(conn, "ok", None)
    while True:
        try:
            method, *args = conn.recv()
        except EOFError:
            return
        if method == "close":
            return
        try:
            if method == "time":
                with timing.gc_paused():
                    value = runner.time(*args)
            else:
                value = getattr(runner, method)(*args)
        except Exception as exc:
            _reply(conn, "error", exc)
        else:
            _reply(conn, "ok", value)


def _reply(conn: Any, kind: str, value: Any) -> None:
    try:
        conn.send((kind, value))
    except Exception as exc:  # an unpicklable exception or value
        text = value if kind == "ok" else f"{type(value).__name__}: {value}"
        conn.send(("error", WorkerError(f"{text} (could not be sent back: {exc})")))


class WorkerRunner:
    """A backend in a worker process of its own (see the module docstring)."""

    def __init__(
        self, name: str, device: str, requested_threads: int | None, *, timeout_s: float = 600
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.timeout_s = timeout_s
        cls = load_backend_class(name)
        self.process = context.Process(
            target=_serve,
            args=(child, name, cls, device, requested_threads),
            name=f"rnnbench-worker-{name}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self._result()  # raises if the backend could not be built there

    def _call(self, method: str, *args: Any) -> Any:
        self._conn.send((method, *args))
        return self._result()

    def _result(self) -> Any:
        if not self._conn.poll(self.timeout_s):
            raise WorkerError(f"worker {self.process.name} sent nothing for {self.timeout_s} s")
        try:
            kind, value = self._conn.recv()
        except EOFError:
            code = self.process.exitcode
            raise WorkerError(f"worker {self.process.name} died (exit code {code})") from None
        if kind == "error":
            raise value
        return value

    def load(self, problem: Problem) -> timing.Prepared:
        return self._call("load", problem)

    def time(self, phase: str) -> float:
        return self._call("time", phase)

    def outputs(self) -> measure.BackendOutputs:
        return self._call("outputs")

    def threads(self) -> dict[str, Any]:
        return {"pid": self.process.pid, **self._call("threads")}

    def close(self) -> None:
        """Ask the worker to stop; terminate it if it does not within a few seconds."""
        with suppress(OSError):
            self._conn.send(("close",))
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self._conn.close()


@contextmanager
def open_runners(
    backends: Mapping[str, Backend],
    *,
    isolate: bool,
    device: str,
    requested_threads: int | None,
) -> Iterator[tuple[dict[str, Runner], dict[str, Exception]]]:
    """A Runner per backend (runnable, by name), in this process or each in a worker, and
    the backends whose worker could not start, with the exception; all closed on exit."""
    runners: dict[str, Runner] = {}
    failed: dict[str, Exception] = {}
    with ExitStack() as stack:
        for name, backend in backends.items():
            try:
                runner: Runner = (
                    WorkerRunner(name, device, requested_threads)
                    if isolate
                    else InProcessRunner(backend, requested_threads)
                )
            except Exception as exc:
                failed[name] = exc
                continue
            stack.callback(runner.close)
            runners[name] = runner
        yield runners, failed
