"""Fixtures shared by the tests of the core."""

from __future__ import annotations

import importlib.metadata

import pytest

from rnnbench import registry


@pytest.fixture
def fake_entry_points(monkeypatch):
    """A function that replaces the installed ``rnnbench.backends`` entry points by the
    (name, "module:Class") pairs given, in a registry that has read none yet; all undone
    after the test."""

    def install(*pairs: tuple[str, str]) -> None:
        eps = [importlib.metadata.EntryPoint(n, t, registry.ENTRY_POINT_GROUP) for n, t in pairs]
        monkeypatch.setattr(
            registry.importlib.metadata,
            "entry_points",
            lambda group: [ep for ep in eps if ep.group == group],
        )
        monkeypatch.setattr(registry, "_registry", dict(registry.BUILTIN))
        monkeypatch.setattr(registry, "_clashes", {})
        monkeypatch.setattr(registry, "_entry_points_read", False)

    return install
