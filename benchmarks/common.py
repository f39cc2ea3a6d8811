"""What the benchmark modules share: parameter values, problem sizes and prepared cases.

Sizes: ``SIZES`` maps a size name to the dimensions of its Problem. Setting the environment
variable ``RNNBENCH_ASV_TINY=1`` shrinks every size to ``TINY`` (the parameter names stay the
same), which is how tests/test_benchmarks.py runs every case in seconds.

Skipping: ``prepare`` raises NotImplementedError, asv's way of skipping a case, when the
backend cannot run here: its framework is not installed, its module does not exist at the
commit being measured, or it does not declare the dtype, activation or cell asked for;
``problem`` raises it for a gated cell on a commit from before cells existed.

asv runs ``setup`` again before every timed call, so ``prepare`` memoizes: the data, the
conversion to native arrays and the backend's ``warm_up`` (JIT compile) happen once per
process, outside every timed call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rnnbench.problems import Problem, make_data

#: environment variable that shrinks every size to TINY
TINY_ENV = "RNNBENCH_ASV_TINY"

#: T (steps), B (batch), D (input size), H (hidden size) of each size name
SIZES: dict[str, dict[str, int]] = {
    "small": {"T": 50, "B": 16, "D": 64, "H": 64},
    "medium": {"T": 100, "B": 32, "D": 256, "H": 256},
}
TINY: dict[str, int] = {"T": 6, "B": 2, "D": 4, "H": 4}

DTYPES: tuple[str, ...] = ("float32", "float64")
#: devices a case can run on; a backend or machine without one skips its cases
DEVICES: tuple[str, ...] = ("cpu", "cuda")
#: every cell a benchmark is parametrized by (gated cells skip on older commits)
CELLS: tuple[str, ...] = ("elman", "lstm", "gru")

#: the name of the float64 reference backend
REFERENCE = "numpy"

#: per-process memo of built backends (or why one cannot run) and of prepared cases
_backends: dict[str, Any] = {}
_cases: dict[tuple[str, Any], Any] = {}


def builtin_backends() -> list[str]:
    """The registry's built-in backend names (the parameter values of every benchmark)."""
    try:
        from rnnbench.registry import BUILTIN
    except ImportError:  # a commit from before the registry
        return [REFERENCE]
    return list(BUILTIN)


def tiny() -> bool:
    """Whether RNNBENCH_ASV_TINY asks for tiny sizes."""
    return os.environ.get(TINY_ENV, "") not in ("", "0")


def dims(size: str) -> dict[str, int]:
    """T, B, D, H of a size name (TINY when RNNBENCH_ASV_TINY is set)."""
    return dict(TINY) if tiny() else dict(SIZES[size])


def get_backend(name: str, device: str = "cpu") -> Any:
    """The backend ``name`` on ``device``, built once per process, by the registry's
    availability policy.

    NotImplementedError (a skip) when it cannot run here: unknown at this commit, its
    module or framework missing. A backend that exists but fails to import or build for
    another reason (a bug at that commit) raises, so asv records a failure, not a skip. A
    device the backend does not declare, or that this machine lacks, is a skip too.
    """
    key = (name, device)
    if key not in _backends:
        _backends[key] = _resolve(name, device)
    backend = _backends[key]
    if isinstance(backend, NotImplementedError):
        raise backend
    return backend


def _resolve(name: str, device: str) -> Any:
    """The backend on ``device``, or a NotImplementedError to skip with (a device the backend
    does not declare or this machine lacks is a skip); raises when it fails to load."""
    try:
        from rnnbench.registry import resolve_backend
    except ImportError:  # a commit from before the registry's availability policy
        if device != "cpu":
            return NotImplementedError(f"no device {device!r} at this commit")
        return _resolve_by_exceptions(name)
    try:
        found = resolve_backend(name, device)
    except LookupError as exc:  # UnknownBackendError: not registered at this commit
        return NotImplementedError(f"backend {name!r} unknown: {exc}")
    if found.status == "skipped":
        return NotImplementedError(f"backend {name!r} unavailable: {found.reason}")
    if found.status == "failed":
        raise RuntimeError(found.reason)
    return found.backend


def _resolve_by_exceptions(name: str) -> Any:
    """``_resolve`` at a commit without ``resolve_backend``: the policy read off
    ``get_backend``'s exceptions."""
    from rnnbench.registry import get_backend as build

    try:
        return build(name)
    except LookupError as exc:  # UnknownBackendError: not registered at this commit
        return NotImplementedError(f"backend {name!r} unknown: {exc}")
    except ImportError as exc:  # BackendUnavailableError
        if exc.__cause__ is not None and not isinstance(exc.__cause__, ImportError):
            raise
        return NotImplementedError(f"backend {name!r} unavailable: {exc}")


def problem(cell: str, **fields: Any) -> Problem:
    """``Problem(**fields)`` of the cell; NotImplementedError for a gated cell on a commit
    from before cells existed (the elman cell is built without the field, as then)."""
    if cell == "elman":
        return Problem(**fields)
    try:
        return Problem(**fields, cell=cell)
    except TypeError as exc:
        raise NotImplementedError(f"cell {cell!r} does not exist at this commit") from exc


def check_supports(backend: Any, problem: Problem) -> None:
    """NotImplementedError unless the backend declares the problem's dtype, activation and
    cell."""
    cell = getattr(problem, "cell", "elman")
    if cell not in getattr(backend, "cells", ("elman",)):
        raise NotImplementedError(f"backend {backend.name!r} has no cell {cell!r}")
    if problem.dtype not in backend.dtypes:
        raise NotImplementedError(f"backend {backend.name!r} has no dtype {problem.dtype!r}")
    if problem.activation not in backend.activations:
        raise NotImplementedError(
            f"backend {backend.name!r} has no activation {problem.activation!r}"
        )


@dataclass(frozen=True)
class Case:
    """A backend with a problem's arrays in native form, already warmed up."""

    backend: Any
    inputs: Any
    problem: Problem
    #: what ``warm_up`` returned: seconds spent compiling (0.0 before warm_up existed)
    compile_seconds: float

    @property
    def state0(self) -> dict[str, Any]:
        """The initial state's extra parts ({"c0": ...} for the LSTM; {} before cells)."""
        return getattr(self.inputs, "state0", {})

    def unroll(self) -> None:
        """One forward pass over the sequence, waited for."""
        i = self.inputs
        a = self.problem.activation
        self.backend.synchronize(
            self.backend.unroll(i.params, i.xs, i.h0, activation=a, **self.state0)
        )

    def bptt_peak_bytes(self) -> int:
        """Peak bytes of one BPTT call above what was in use before it, as `rnnbench run`
        measures it (``rnnbench.harness.memory.bptt_peak``: tracemalloc for NumPy, XLA's
        memory analysis, torch's CUDA statistics, else the resident-memory high-water mark);
        NotImplementedError (a skip) at commits without it or where it is not measurable."""
        try:
            from rnnbench.harness.memory import bptt_peak
        except ImportError as exc:
            raise NotImplementedError(f"no per-call peak memory at this commit: {exc}") from exc
        peak, _ = bptt_peak(self.backend, self.inputs, self.problem.activation)
        if peak.peak_bytes is None:
            raise NotImplementedError(f"peak memory not measurable here: {peak.reason}")
        return peak.peak_bytes

    def bptt(self) -> Any:
        """One full backpropagation through time, waited for; its gradients."""
        i = self.inputs
        a = self.problem.activation
        grads = self.backend.bptt(i.params, i.xs, i.h0, i.dhs, activation=a, **self.state0)
        for _, gradient in grads.items():
            self.backend.synchronize(gradient)
        return grads


def prepare(backend_name: str, problem: Problem, device: str = "cpu") -> Case:
    """The warmed-up Case of a backend and problem on ``device``, made once per process."""
    key = (backend_name, problem, device)
    if key not in _cases:
        backend = get_backend(backend_name, device)
        check_supports(backend, problem)
        inputs = backend.load(make_data(problem))
        warm_up = getattr(backend, "warm_up", None)  # absent before the warm_up commit
        seconds = warm_up(inputs, activation=problem.activation) if warm_up else 0.0
        _cases[key] = Case(backend, inputs, problem, float(seconds))
    return _cases[key]


def outcomes(measure: Callable[..., Any], keys: Iterable[tuple]) -> dict[tuple, Any]:
    """``measure(*key)`` for every key, for an asv ``setup_cache``: one process measures
    every case, and a case that cannot run or fails is kept as a message, never raised here
    (one broken backend must not take the others down)."""
    results: dict[tuple, Any] = {}
    for key in keys:
        try:
            results[key] = measure(*key)
        except NotImplementedError as exc:
            results[key] = Outcome("skip", str(exc))
        except Exception as exc:
            results[key] = Outcome("error", f"{type(exc).__name__}: {exc}")
    return results


def outcome(cache: dict[tuple, Any], key: tuple) -> Any:
    """The measured value of ``key`` (in ``setup``): NotImplementedError skips a case that
    could not run, RuntimeError fails a case that raised."""
    value = cache[key]
    if isinstance(value, Outcome) and value.kind == "skip":
        raise NotImplementedError(value.message)
    if isinstance(value, Outcome):
        raise RuntimeError(value.message)
    return value


@dataclass(frozen=True)
class Outcome:
    """Why a case of a ``setup_cache`` has no value: kind 'skip' or 'error'."""

    kind: str
    message: str
