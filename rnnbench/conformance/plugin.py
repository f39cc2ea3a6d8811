"""pytest plugin of the conformance kit (entry point ``pytest11: rnnbench``).

Everything it adds carries rnnbench's name, so installing rnnbench changes nothing in the
test run of a project that does not run the kit: the ``--rnnbench-*`` options, the
``rnnbench_backend_name``/``rnnbench_backend`` fixtures, the ``rnnbench_kit`` marker and the
hypothesis profiles ``rnnbench-dev``/``-ci``/``-thorough``, which are registered and loaded
only when a module of the kit is about to be imported (and the previous profile is restored
at exit). Only a test whose ``rnnbench_backend_name`` comes from the plugin (not from its
own parametrize mark or fixture) is parametrized. The plugin imports no framework.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections import Counter
from pathlib import Path

import pytest

from rnnbench.errors import RnnbenchError, UnknownBackendError
from rnnbench.interface import Backend
from rnnbench.registry import Availability, backend_names, load_backend_class, resolve_backend

from . import profiles
from .rules import UnmatchedRuleWarning, apply_rules
from .timelimit import CallThread, TimedBackend

__all__ = ["FrameworkImportedWarning", "UnmatchedRuleWarning"]

KIT_DIR = Path(__file__).resolve().parent
BACKENDS_ENV = "RNNBENCH_BACKENDS"
DEVICE_ENV = "RNNBENCH_DEVICE"
TIMEOUT_ENV = "RNNBENCH_TIMEOUT"
DEFAULT_TIMEOUT_S = 120.0
BACKEND_PARAM = "rnnbench_backend_name"
MARKER = "rnnbench_kit"


class FrameworkImportedWarning(UserWarning):
    """Importing a backend's module imported its framework: discovery is no longer cheap."""


#: per-run state, kept on the config (not in module globals, which outlive a run)
_UNAVAILABLE = pytest.StashKey[dict[str, str]]()
_PREVIOUS_PROFILE = pytest.StashKey[str | None]()
_DIVERTED_STORAGE = pytest.StashKey[Path | None]()


def _seconds(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0 (0: no limit), got {text!r}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnnbench", "rnnbench conformance kit")
    group.addoption(
        "--rnnbench-backend",
        action="append",
        default=[],
        dest="rnnbench_backends",
        metavar="NAME",
        help="backend to test: a registered name or 'module:Class' (repeatable; default: "
        f"${BACKENDS_ENV} as a comma-separated list, else every known backend)",
    )
    group.addoption(
        "--rnnbench-device",
        default=None,
        dest="rnnbench_device",
        help=f"device for the backends under test: cpu or cuda (default: ${DEVICE_ENV} or cpu)",
    )
    group.addoption(
        "--rnnbench-skip-tests",
        default=None,
        dest="rnnbench_skip_file",
        metavar="FILE",
        help="file of lines 'BACKEND TEST_PATTERN [# reason]': skip the matching tests of "
        "that backend (the pattern matches the test name, with or without [parameters])",
    )
    group.addoption(
        "--rnnbench-xfail",
        default=None,
        dest="rnnbench_xfail_file",
        metavar="FILE",
        help="file of lines 'BACKEND TEST_PATTERN [# reason]': the matching tests of that "
        "backend are expected to fail, strictly (one that passes fails the run)",
    )
    group.addoption(
        "--rnnbench-profile",
        default=None,
        dest="rnnbench_profile",
        choices=profiles.CHOICES,
        help=f"the kit's hypothesis profile (default: ${profiles.PROFILE_ENV}, else ci when "
        "$CI is set, else dev; --hypothesis-profile=NAME uses a profile of yours instead)",
    )
    group.addoption(
        "--rnnbench-hypothesis-db",
        default=None,
        dest="rnnbench_hypothesis_db",
        metavar="PATH",
        help="hypothesis example database for the kit: a directory (shared between machines "
        "to replay each other's failures first), ':memory:', or 'module:attribute' naming a "
        f"hypothesis ExampleDatabase (default: ${profiles.DATABASE_ENV}, else the profile's)",
    )
    group.addoption(
        "--rnnbench-timeout",
        default=None,
        type=_seconds,
        dest="rnnbench_timeout",
        metavar="SECONDS",
        help="time limit of each call to a backend; a call that hangs fails its test and every "
        f"later call of that backend (default: ${TIMEOUT_ENV}, else {DEFAULT_TIMEOUT_S:g}; "
        "0: no limit)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_UNAVAILABLE] = {}
    config.addinivalue_line(
        "markers", f"{MARKER}: a test of the rnnbench conformance kit, run per backend"
    )


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Load the kit's hypothesis profile just before the first module of the kit is imported
    (``@given`` binds the default settings at import), so an unrelated run keeps its own."""
    if not isinstance(collector, pytest.Module) or _PREVIOUS_PROFILE in collector.config.stash:
        return
    if not collector.path.resolve().is_relative_to(KIT_DIR):
        return
    config = collector.config
    config.stash[_PREVIOUS_PROFILE] = None
    try:
        from hypothesis import settings
    except ImportError:  # the kit's modules say what is missing when they are imported
        return
    try:
        previous = settings.get_current_profile_name()
    except AssertionError:  # no profile loaded yet
        previous = "default"
    user_profile = config.getoption("hypothesis_profile", None)
    profile = profiles.chosen_profile(config.getoption("rnnbench_profile"), user_profile)
    spec = profiles.database_spec(config.getoption("rnnbench_hypothesis_db"))
    loaded = profiles.activate(profile, user_profile, spec)
    config.stash[_PREVIOUS_PROFILE] = previous if loaded != previous else None
    if loaded == profiles.PREFIX + "ci":
        config.stash[_DIVERTED_STORAGE] = profiles.divert_storage()


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_PREVIOUS_PROFILE, None)
    if previous is not None:
        from hypothesis import settings

        settings.load_profile(previous)
    storage = config.stash.get(_DIVERTED_STORAGE, None)
    if storage is not None:
        profiles.restore_storage(storage)


def selected_backends(config: pytest.Config) -> list[str]:
    """The backends chosen by --rnnbench-backend, else $RNNBENCH_BACKENDS, else every one."""
    chosen = list(config.getoption("rnnbench_backends") or [])
    if not chosen and os.environ.get(BACKENDS_ENV):
        chosen = [n.strip() for n in os.environ[BACKENDS_ENV].split(",") if n.strip()]
    return chosen or backend_names()


def selected_device(config: pytest.Config) -> str:
    return config.getoption("rnnbench_device") or os.environ.get(DEVICE_ENV, "cpu")


def selected_timeout(config: pytest.Config) -> float:
    """Seconds each backend call may take: --rnnbench-timeout, else $RNNBENCH_TIMEOUT, else
    the default; 0 means no limit."""
    seconds = config.getoption("rnnbench_timeout")
    if seconds is not None:
        return seconds
    try:
        return _seconds(os.environ.get(TIMEOUT_ENV) or str(DEFAULT_TIMEOUT_S))
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise pytest.UsageError(f"${TIMEOUT_ENV}: {exc}") from exc


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not _wants_backends(metafunc):
        return
    names = selected_backends(metafunc.config)
    known = set(backend_names())
    unknown = [n for n in names if n not in known and ":" not in n]
    if unknown:  # a typo must not turn into a run that skips everything and passes
        pytest.fail(
            f"rnnbench: unknown backend {', '.join(map(repr, unknown))}; "
            f"known backends: {', '.join(backend_names())}",
            pytrace=False,
        )
    mark = getattr(pytest.mark, MARKER)
    params = [pytest.param(n, id=n, marks=mark) for n in names]
    metafunc.parametrize(BACKEND_PARAM, params, scope="session")


def _wants_backends(metafunc: pytest.Metafunc) -> bool:
    """Whether ``rnnbench_backend_name`` is the plugin's: requested (through the
    ``rnnbench_backend`` fixture), not parametrized by the test's own mark, and not provided
    by some other fixture."""
    if BACKEND_PARAM not in metafunc.fixturenames:
        return False
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(argnames, str):
            argnames = [a.strip() for a in argnames.split(",")]
        if BACKEND_PARAM in argnames:
            return False
    return BACKEND_PARAM not in getattr(metafunc, "_arg2fixturedefs", {})


@pytest.fixture(scope="session")
def rnnbench_backend(rnnbench_backend_name: str, pytestconfig: pytest.Config) -> Backend:
    """The backend under test, built once per session by the registry's availability policy
    (``resolve_backend``), each call limited in time (see ``timelimit``): skipped with the
    reason when its framework or device is absent here (or the device is not declared); an
    error, with the reason, when it is present but fails to load (a broken plugin or
    install, a name two plugins claim)."""
    name = rnnbench_backend_name
    device = selected_device(pytestconfig)
    seconds = selected_timeout(pytestconfig)
    _warn_if_import_imports_framework(name)

    def resolve() -> Availability:
        try:
            return resolve_backend(name, device=device)
        except UnknownBackendError as exc:
            return Availability(name, "failed", reason=str(exc))

    thread = CallThread(f"backend {name!r}", seconds) if seconds else None
    if thread is None:
        found = resolve()
    else:
        construction = f"rnnbench.resolve_backend({name!r}, device={device!r})"
        found = thread.call(resolve, lambda: (construction, ""))
    if found.status == "skipped":
        pytestconfig.stash[_UNAVAILABLE][name] = found.reason
        pytest.skip(f"backend {name!r} unavailable: {found.reason}")
    if found.status == "failed":
        pytestconfig.stash[_UNAVAILABLE][name] = f"FAILED TO LOAD: {found.reason}"
        pytest.fail(f"backend {name!r} failed to load: {found.reason}", pytrace=False)
    return found.backend if thread is None else TimedBackend(found.backend, thread)  # type: ignore[return-value]


def _warn_if_import_imports_framework(name: str) -> None:
    """Warn, under the backend's name, when importing its class imports a module of its
    ``requires`` (a framework must be imported only when the backend is constructed)."""
    before = set(sys.modules)
    try:
        cls = load_backend_class(name)
    except RnnbenchError:  # unknown, broken or clashing: resolve_backend reports it
        return
    imported = [m for m in cls.requires if m in sys.modules and m not in before]
    if imported:
        warnings.warn(
            FrameworkImportedWarning(
                f"rnnbench: backend {name!r}: importing {cls.__module__} imported "
                f"{', '.join(imported)}; import the framework in the backend's __init__, so "
                "that listing backends does not import it"
            ),
            stacklevel=1,
        )


def _uses_backend(item: pytest.Item) -> bool:
    return item.get_closest_marker(MARKER) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kit_items = list(filter(_uses_backend, items))
    for option, dest in (
        ("--rnnbench-skip-tests", "rnnbench_skip_file"),
        ("--rnnbench-xfail", "rnnbench_xfail_file"),
    ):
        path = config.getoption(dest)
        if path:
            apply_rules(kit_items, option, Path(path), BACKEND_PARAM)


def pytest_report_collectionfinish(
    config: pytest.Config, start_path: Path, items: list[pytest.Item]
) -> list[str]:
    if not any(map(_uses_backend, items)):
        return []
    profile = "none"
    if "hypothesis" in sys.modules:
        from hypothesis import settings

        profile = settings.get_current_profile_name()
    seconds = selected_timeout(config)
    limit = f"{seconds:g} s per backend call" if seconds else "none"
    return [
        f"rnnbench: backends {', '.join(selected_backends(config))}; "
        f"device {selected_device(config)}; hypothesis profile {profile}; time limit {limit}"
    ]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    unavailable = config.stash.get(_UNAVAILABLE, {})
    if unavailable:
        terminalreporter.section("rnnbench: backends not tested")
        for name, reason in sorted(unavailable.items()):
            terminalreporter.write_line(f"{name}: {reason}")
    for outcome, char, title in (
        ("skipped", "s", "skipped"),
        ("xfailed", "x", "expected failures"),
    ):
        if terminalreporter.hasopt(char):  # pytest lists them already (-rs, -rx, -ra)
            continue
        reasons = Counter(
            _reason(report)
            for report in terminalreporter.stats.get(outcome, [])
            if MARKER in report.keywords
        )
        if reasons:
            terminalreporter.section(f"rnnbench: {title}")
            for reason, count in sorted(reasons.items()):
                terminalreporter.write_line(f"{count:5d} x {reason}")


def _reason(report: pytest.TestReport) -> str:
    """A skipped or xfailed test's reason."""
    if hasattr(report, "wasxfail"):
        return report.wasxfail
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")
