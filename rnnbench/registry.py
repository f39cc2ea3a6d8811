"""Backends by name: built-ins, ``register_backend`` and the ``rnnbench.backends`` entry points.

A backend is known by a ``"module:Class"`` string and imported only when asked for; its
framework is imported only when the backend is constructed. Entry points are read lazily,
on the first lookup that needs them. A plugin that fails to load is reported under its own
name and never breaks the others. An entry point whose name is already taken (by a built-in
or another entry point) is not dropped in silence: the name is marked as a clash, listed
with a warning, and asking for it is an error naming every target.

The one availability policy (``resolve_backend``), for the CLI, the conformance kit and the
asv suite alike: a backend whose framework is not installed, or whose device is absent or
not declared, is *skipped* with the reason (and install hint); one that is installed but
fails to import or construct is *failed*.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass, field
from typing import Literal

from rnnbench.cells import CELL_NAMES
from rnnbench.errors import (
    BackendNameClashError,
    BackendUnavailableError,
    FrameworkMissingError,
    UnknownBackendError,
)
from rnnbench.interface import Backend

ENTRY_POINT_GROUP = "rnnbench.backends"

BUILTIN: dict[str, str] = {
    "numpy": "rnnbench_backends.numpy_backend:NumpyBackend",
    "torch": "rnnbench_backends.torch_backend:TorchAutogradBackend",
    "torch-manual": "rnnbench_backends.torch_backend:TorchManualBackend",
    "torch-nn": "rnnbench_backends.torch_nn_backend:TorchNNBackend",
    "jax": "rnnbench_backends.jax_backend:JaxBackend",
}

_registry: dict[str, str | type[Backend]] = dict(BUILTIN)
#: names claimed by more than one target: name -> every claimant, described
_clashes: dict[str, list[str]] = {}
_entry_points_read = False


def register_backend(
    target: str | type[Backend], name: str | None = None, *, replace: bool = False
) -> str:
    """Register a backend class, or a ``"module:Class"`` string, under ``name``.

    ``name`` defaults to the class's ``name`` attribute (or the string's class name).
    Registering over an existing name needs ``replace=True`` (which also settles a clash
    of entry points over that name). Returns the name used.
    """
    if name is None:
        name = target.rsplit(":", 1)[-1] if isinstance(target, str) else target.name
    if not name:
        raise ValueError("a backend needs a non-empty name")
    if isinstance(target, str) and ":" not in target:
        raise ValueError(f"backend target must be 'module:Class', got {target!r}")
    if not isinstance(target, str) and not (
        isinstance(target, type) and issubclass(target, Backend)
    ):
        raise TypeError(
            f"backend target must be a Backend subclass or 'module:Class', got {target!r}"
        )
    _read_entry_points()
    if name in _registry and _registry[name] is not target and not replace:
        raise ValueError(f"a backend named {name!r} is already registered; pass replace=True")
    _registry[name] = target
    _clashes.pop(name, None)
    return name


def unregister_backend(name: str) -> None:
    """Forget a registered backend (a no-op for unknown names)."""
    _registry.pop(name, None)
    _clashes.pop(name, None)


def backend_names() -> list[str]:
    """Every known backend name, built-ins first, then the rest sorted."""
    _read_entry_points()
    return [*BUILTIN, *sorted(set(_registry) - set(BUILTIN))]


def load_backend_class(name: str) -> type[Backend]:
    """The class behind ``name`` (a registered name or ``"module:Class"``), not yet constructed.

    Raises UnknownBackendError for an unknown name, BackendNameClashError for a name two
    targets claim, FrameworkMissingError when its framework is not installed and
    BackendUnavailableError when its module cannot be imported.
    """
    target = _target(name)
    cls = _import_target(name, target) if isinstance(target, str) else target
    missing = missing_requirements(cls)
    if missing:
        raise FrameworkMissingError(_unavailable_message(name, cls, missing))
    return cls


def get_backend(name: str, device: str = "cpu") -> Backend:
    """A ready backend instance: ``get_backend("torch", device="cuda")``."""
    cls = load_backend_class(name)
    try:
        backend = cls(device=device)
    except FrameworkMissingError:  # the device asked for is absent: the backend says so
        raise
    except ImportError as exc:
        raise BackendUnavailableError(f"backend {name!r} failed to load: {exc}") from exc
    backend.name = name  # the name it was asked for, so messages and reports can reproduce it
    return backend


@dataclass(frozen=True)
class Availability:
    """What came of asking for a backend here: ``status`` "ok" with the ``backend``,
    "skipped" (its framework or device is absent: not a fault) or "failed" (installed but
    it fails to import or construct, or its name is claimed twice), with the ``reason``."""

    name: str
    status: Literal["ok", "skipped", "failed"]
    backend: Backend | None = None
    reason: str = ""


def resolve_backend(name: str, device: str = "cpu") -> Availability:
    """The availability policy (module docstring): ``get_backend(name, device)``, with
    every way it can fail sorted into "skipped" or "failed". An unknown name is not a
    question of availability: it raises UnknownBackendError, as ``get_backend`` does."""
    try:
        cls = load_backend_class(name)
        if device not in cls.devices:
            reason = (
                f"backend {name!r} does not support device={device!r}; "
                f"supported: {sorted(cls.devices)}"
            )
            return Availability(name, "skipped", reason=reason)
        return Availability(name, "ok", get_backend(name, device))
    except UnknownBackendError:
        raise
    except FrameworkMissingError as exc:
        return Availability(name, "skipped", reason=str(exc))
    except BackendUnavailableError as exc:
        return Availability(name, "failed", reason=str(exc))
    except Exception as exc:  # a bug in the backend's constructor
        reason = f"backend {name!r} failed to construct: {type(exc).__name__}: {exc}"
        return Availability(name, "failed", reason=reason)


@dataclass(frozen=True)
class BackendInfo:
    """What ``list_backends`` reports of one backend."""

    name: str
    target: str
    available: bool
    reason: str = ""
    version: str = ""
    dtypes: tuple[str, ...] = ()
    activations: tuple[str, ...] = ()
    cells: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    supports_truncation: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    #: something to warn about even when nobody asks for the backend (a name clash)
    warning: str = ""


def list_backends() -> list[BackendInfo]:
    """Every known backend with its availability, capabilities and, if unavailable, why."""
    return [describe_backend(name) for name in backend_names()]


def describe_backend(name: str) -> BackendInfo:
    """Availability and capabilities of one backend, importing no framework."""
    try:
        target = _target(name)
    except BackendNameClashError as exc:
        targets = " | ".join(_clashes[name])
        return BackendInfo(name, targets, available=False, reason=str(exc), warning=str(exc))
    shown = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"
    try:
        cls = load_backend_class(name)
    except BackendUnavailableError as exc:
        return BackendInfo(name=name, target=shown, available=False, reason=str(exc))
    return BackendInfo(
        name=name,
        target=shown,
        available=True,
        version=_distribution_version(cls),
        dtypes=tuple(sorted(cls.dtypes)),
        activations=tuple(sorted(cls.activations)),
        cells=tuple(c for c in CELL_NAMES if c in getattr(cls, "cells", ("elman",))),
        devices=tuple(sorted(cls.devices)),
        supports_truncation=cls.supports_truncation,
    )


def missing_requirements(cls: type[Backend]) -> list[str]:
    """The modules in ``cls.requires`` that cannot be found (nothing is imported)."""
    return [mod for mod in cls.requires if importlib.util.find_spec(mod) is None]


def _distribution_version(cls: type[Backend]) -> str:
    for module in cls.requires or ("numpy",):
        try:
            return importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


def _unavailable_message(name: str, cls: type[Backend], missing: list[str]) -> str:
    hint = f": {cls.install_hint}" if cls.install_hint else ""
    return f"backend {name!r} needs {', '.join(missing)}, which is not installed{hint}"


def _target(name: str) -> str | type[Backend]:
    if not isinstance(name, str) or not name:
        raise UnknownBackendError(f"a backend name must be a non-empty string, got {name!r}")
    _read_entry_points()
    if name in _clashes:
        claimants = " and ".join(_clashes[name])
        raise BackendNameClashError(
            f"backend name {name!r} is claimed by {claimants}; rnnbench will not pick one: "
            "ask for one by its 'module:Class' target, or uninstall the plugin you do not want"
        )
    if name in _registry:
        return _registry[name]
    if ":" in name:
        return name
    known = ", ".join(backend_names())
    raise UnknownBackendError(f"unknown backend {name!r}; known backends: {known}")


def _import_target(name: str, target: str) -> type[Backend]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attr)
    except Exception as exc:  # a broken plugin must not break discovery
        raise BackendUnavailableError(
            f"backend {name!r} ({target}) failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise BackendUnavailableError(
            f"backend {name!r} ({target}) is not a subclass of rnnbench.Backend"
        )
    return cls


def _read_entry_points() -> None:
    """Add the entry points to the registry once; a name claimed by two different targets
    (a built-in and an entry point, or two entry points) goes into ``_clashes``."""
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    claims: dict[str, dict[str, str]] = {}  # name -> target -> target described
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        where = f"entry point of {dist.name}" if dist else "entry point"
        claims.setdefault(ep.name, {}).setdefault(ep.value, f"{ep.value} ({where})")
    for name, targets in claims.items():
        if name in _registry:
            taken = _registry[name]
            kind = "built-in" if BUILTIN.get(name) == taken else "registered"
            targets = {str(taken): f"{taken} ({kind})"} | {
                t: d for t, d in targets.items() if t != taken
            }
        _registry.setdefault(name, next(iter(targets)))
        if len(targets) > 1:
            _clashes[name] = list(targets.values())
