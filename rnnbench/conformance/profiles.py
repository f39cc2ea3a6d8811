"""The kit's hypothesis settings: its profiles and the example database they use.

``rnnbench-dev`` (10 examples, the default), ``rnnbench-ci`` (25, derandomized, prints the
reproduction blob, writes no example database; the default when ``$CI`` is set) and
``rnnbench-thorough`` (500). Given a database, every profile uses it, and ``rnnbench-ci``
draws random examples instead (hypothesis saves and replays examples only then), so a
failure found on one machine replays first on every machine that shares it.

The profiles are registered and loaded by ``activate`` only when a module of the kit is
collected, so a project that never collects the kit keeps hypothesis's profiles (its
built-in ``ci`` included) and its own.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

PROFILE_ENV = "RNNBENCH_PROFILE"
STORAGE_ENV = "HYPOTHESIS_STORAGE_DIRECTORY"
DATABASE_ENV = "RNNBENCH_HYPOTHESIS_DB"
PREFIX = "rnnbench-"
CHOICES = ("dev", "ci", "thorough")
#: a "module:attribute" naming a database object (not a directory such as C:\\x or ./a:b)
_OBJECT_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def _profiles(database: Any) -> dict[str, dict[str, Any]]:
    """The settings of each kit profile; ``database`` (None: the profile's default) is the
    example database every profile uses."""
    from hypothesis import HealthCheck

    slow_ok = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
    profiles: dict[str, dict[str, Any]] = {
        "dev": {"max_examples": 10, "deadline": None},
        "ci": {
            "max_examples": 25,
            "derandomize": True,
            "database": None,
            "print_blob": True,
            **slow_ok,
        },
        "thorough": {"max_examples": 500, **slow_ok},
    }
    if database is not None:  # hypothesis derandomizes only without a database
        for values in profiles.values():
            values["database"] = database
            values.pop("derandomize", None)
    return profiles


def chosen_profile(option: str | None, hypothesis_option: str | None) -> str | None:
    """The short name of the kit profile to load: ``--rnnbench-profile``, else none when the
    user chose a profile with ``--hypothesis-profile``, else ``$RNNBENCH_PROFILE``, else
    ``ci`` when ``$CI`` is set, else ``dev``."""
    if option:
        return option
    if hypothesis_option:
        return None
    from_env = os.environ.get(PROFILE_ENV, "").removeprefix(PREFIX)
    if from_env and from_env not in CHOICES:
        raise pytest.UsageError(
            f"{PROFILE_ENV}={os.environ[PROFILE_ENV]!r}: expected one of {', '.join(CHOICES)}"
        )
    return from_env or ("ci" if os.environ.get("CI") else "dev")


def database_spec(option: str | None) -> str | None:
    """``--rnnbench-hypothesis-db``, else ``$RNNBENCH_HYPOTHESIS_DB``, else None."""
    return option or os.environ.get(DATABASE_ENV) or None


def make_database(spec: str) -> Any:
    """The example database ``spec`` names: ``:memory:``; ``module:attribute``, a hypothesis
    ``ExampleDatabase`` (or a callable returning one), for any database hypothesis supports;
    else a directory, shared by every machine that points at it."""
    from hypothesis.database import (
        DirectoryBasedExampleDatabase,
        ExampleDatabase,
        InMemoryExampleDatabase,
    )

    if spec == ":memory:":
        return InMemoryExampleDatabase()
    if not _OBJECT_SPEC.fullmatch(spec):
        return DirectoryBasedExampleDatabase(spec)
    module, _, attribute = spec.partition(":")
    try:
        database = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise pytest.UsageError(f"--rnnbench-hypothesis-db {spec}: {exc}") from exc
    if callable(database) and not isinstance(database, ExampleDatabase):
        database = database()
    if not isinstance(database, ExampleDatabase):
        raise pytest.UsageError(
            f"--rnnbench-hypothesis-db {spec}: {type(database).__name__} is not a "
            "hypothesis ExampleDatabase"
        )
    return database


def divert_storage() -> Path | None:
    """Point hypothesis's storage (``.hypothesis/`` in the working directory, where it
    caches constants of local modules even without an example database) at a temporary
    directory, unless ``$HYPOTHESIS_STORAGE_DIRECTORY`` chooses one; returns it, or None.
    The kit does this under ``rnnbench-ci`` so that a CI run leaves the checkout clean."""
    if os.environ.get(STORAGE_ENV):
        return None
    from hypothesis.configuration import set_hypothesis_home_dir

    directory = Path(tempfile.mkdtemp(prefix="rnnbench-hypothesis-"))
    set_hypothesis_home_dir(directory)
    return directory


def restore_storage(directory: Path) -> None:
    """Undo ``divert_storage`` and delete its directory."""
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(None)
    shutil.rmtree(directory, ignore_errors=True)


def activate(profile: str | None, hypothesis_profile: str | None, spec: str | None) -> str:
    """Register the kit's profiles and load the one to use; returns its name. ``profile`` is
    a short name from ``chosen_profile``; None keeps ``hypothesis_profile`` (the user's),
    with the database ``spec`` names, if any, in a copy of it."""
    from hypothesis import settings

    database = make_database(spec) if spec else None
    for name, values in _profiles(database).items():
        settings.register_profile(PREFIX + name, **values)
    if profile is not None:
        name = PREFIX + profile
    elif database is not None:
        name = f"{hypothesis_profile}-with-rnnbench-db"
        settings.register_profile(
            name, parent=settings.get_profile(hypothesis_profile), database=database
        )
    else:
        return settings.get_current_profile_name()
    settings.load_profile(name)
    return name
