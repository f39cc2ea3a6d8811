"""Backends by name: built-ins, ``register_backend`` and the ``rnnbench.backends`` entry points.

A backend is known by a ``"module:Class"`` string and imported only when asked for; its
framework is imported only when the backend is constructed. Entry points are read lazily,
on the first lookup that needs them. A plugin that fails to load is reported under its own
name and never breaks the others.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass, field

from rnnbench.cells import CELL_NAMES
from rnnbench.errors import BackendUnavailableError, FrameworkMissingError, UnknownBackendError
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
_entry_points_read = False


def register_backend(
    target: str | type[Backend], name: str | None = None, *, replace: bool = False
) -> str:
    """Register a backend class, or a ``"module:Class"`` string, under ``name``.

    ``name`` defaults to the class's ``name`` attribute (or the string's class name).
    Registering over an existing name needs ``replace=True``. Returns the name used.
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
    return name


def unregister_backend(name: str) -> None:
    """Forget a registered backend (a no-op for unknown names)."""
    _registry.pop(name, None)


def backend_names() -> list[str]:
    """Every known backend name, built-ins first, then the rest sorted."""
    _read_entry_points()
    return [*BUILTIN, *sorted(set(_registry) - set(BUILTIN))]


def load_backend_class(name: str) -> type[Backend]:
    """The class behind ``name`` (a registered name or ``"module:Class"``), not yet constructed.

    Raises UnknownBackendError for an unknown name and BackendUnavailableError when the
    backend's module cannot be imported or its framework is not installed.
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
    except ImportError as exc:
        raise BackendUnavailableError(f"backend {name!r} failed to load: {exc}") from exc
    backend.name = name  # the name it was asked for, so messages and reports can reproduce it
    return backend


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


def list_backends() -> list[BackendInfo]:
    """Every known backend with its availability, capabilities and, if unavailable, why."""
    return [describe_backend(name) for name in backend_names()]


def describe_backend(name: str) -> BackendInfo:
    """Availability and capabilities of one backend, importing no framework."""
    target = _target(name)
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
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        _registry.setdefault(ep.name, ep.value)
