"""pytest plugin of the conformance kit (entry point ``pytest11: rnnbench``).

It adds the ``--backend``/``--device``/``--skip-tests`` options, the hypothesis profiles
``dev``, ``ci`` and ``thorough``, and the ``backend_name``/``backend`` fixtures the suite
uses. It imports no framework, and it changes nothing in a pytest run that collects no
test of the kit: the hypothesis profile is loaded only when a module of the kit is about to
be imported (and restored at exit), and only a test whose ``backend_name`` comes from the
``backend`` fixture (not from its own parametrize mark or fixture) is parametrized.
"""

from __future__ import annotations

import fnmatch
import os
import warnings
from pathlib import Path

import pytest

from rnnbench.errors import UnknownBackendError
from rnnbench.registry import Availability, backend_names, resolve_backend

KIT_DIR = Path(__file__).resolve().parent
PROFILE_ENV = "RNNBENCH_PROFILE"
BACKENDS_ENV = "RNNBENCH_BACKENDS"
DEVICE_ENV = "RNNBENCH_DEVICE"

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("dev", max_examples=10, deadline=None)
    settings.register_profile(
        "ci",
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
except ImportError:  # the kit needs hypothesis; an unrelated pytest run does not
    settings = None


class UnmatchedSkipWarning(UserWarning):
    """A line of a --skip-tests file matched no collected test."""


#: per-run state, kept on the config (not in module globals, which outlive a run)
_UNAVAILABLE = pytest.StashKey[dict[str, str]]()
_PREVIOUS_PROFILE = pytest.StashKey[str | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnnbench", "rnnbench conformance kit")
    group.addoption(
        "--backend",
        action="append",
        default=[],
        dest="rnnbench_backends",
        metavar="NAME",
        help="backend to test: a registered name or 'module:Class' (repeatable; default: "
        f"${BACKENDS_ENV} as a comma-separated list, else every known backend)",
    )
    group.addoption(
        "--device",
        default=None,
        dest="rnnbench_device",
        help=f"device for the backends under test: cpu or cuda (default: ${DEVICE_ENV} or cpu)",
    )
    group.addoption(
        "--skip-tests",
        default=None,
        dest="rnnbench_skip_file",
        metavar="FILE",
        help="file of lines 'BACKEND TEST_PATTERN [# reason]': skip matching tests "
        "(fnmatch on the test function name) for that backend",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_UNAVAILABLE] = {}
    config.addinivalue_line(
        "markers", "rnnbench_backend: a test of the rnnbench conformance kit, run per backend"
    )


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Load the kit's hypothesis profile just before the first module of the kit is imported
    (``@given`` binds the default settings at import), so an unrelated run keeps its own."""
    if not isinstance(collector, pytest.Module) or _PREVIOUS_PROFILE in collector.config.stash:
        return
    if not collector.path.resolve().is_relative_to(KIT_DIR):
        return
    config = collector.config
    if settings is None or config.getoption("hypothesis_profile", None):
        config.stash[_PREVIOUS_PROFILE] = None  # the user's choice stands
        return
    try:
        config.stash[_PREVIOUS_PROFILE] = settings.get_current_profile_name()
    except AssertionError:  # no profile loaded yet
        config.stash[_PREVIOUS_PROFILE] = "default"
    default = "ci" if os.environ.get("CI") else "dev"
    settings.load_profile(os.environ.get(PROFILE_ENV, default))


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_PREVIOUS_PROFILE, None)
    if previous is not None and settings is not None:
        settings.load_profile(previous)


def selected_backends(config: pytest.Config) -> list[str]:
    """The backends chosen by --backend, else $RNNBENCH_BACKENDS, else every known one."""
    chosen = list(config.getoption("rnnbench_backends") or [])
    if not chosen and os.environ.get(BACKENDS_ENV):
        chosen = [n.strip() for n in os.environ[BACKENDS_ENV].split(",") if n.strip()]
    return chosen or backend_names()


def selected_device(config: pytest.Config) -> str:
    return config.getoption("rnnbench_device") or os.environ.get(DEVICE_ENV, "cpu")


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
    mark = pytest.mark.rnnbench_backend
    params = [pytest.param(n, id=n, marks=mark) for n in names]
    metafunc.parametrize("backend_name", params, scope="session")


def _wants_backends(metafunc: pytest.Metafunc) -> bool:
    """Whether ``backend_name`` is the kit's: requested (through the ``backend`` fixture),
    not parametrized by the test's own mark, and not provided by some other fixture."""
    if "backend_name" not in metafunc.fixturenames:
        return False
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(argnames, str):
            argnames = [a.strip() for a in argnames.split(",")]
        if "backend_name" in argnames:
            return False
    return "backend_name" not in getattr(metafunc, "_arg2fixturedefs", {})


@pytest.fixture(scope="session")
def backend(backend_name: str, pytestconfig: pytest.Config):
    """The backend under test, built once per session, by the registry's availability policy
    (``resolve_backend``): skipped with the reason when its framework or device is absent
    here (or the device is not declared); an error, with the reason, when it is present but
    fails to load (a broken plugin or install, a name two plugins claim)."""
    try:
        found = resolve_backend(backend_name, device=selected_device(pytestconfig))
    except UnknownBackendError as exc:
        found = Availability(backend_name, "failed", reason=str(exc))
    if found.status == "skipped":
        pytestconfig.stash[_UNAVAILABLE][backend_name] = found.reason
        pytest.skip(f"backend {backend_name!r} unavailable: {found.reason}")
    if found.status == "failed":
        pytestconfig.stash[_UNAVAILABLE][backend_name] = f"FAILED TO LOAD: {found.reason}"
        pytest.fail(f"backend {backend_name!r} failed to load: {found.reason}", pytrace=False)
    return found.backend


def _uses_backend(item: pytest.Item) -> bool:
    return item.get_closest_marker("rnnbench_backend") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    path = config.getoption("rnnbench_skip_file")
    if not path:
        return
    rules = _read_skip_file(Path(path))
    used = [False] * len(rules)
    for item in filter(_uses_backend, items):
        name = item.callspec.params.get("backend_name") if hasattr(item, "callspec") else None
        function = getattr(item, "originalname", item.name)
        for i, (backend_name, pattern, reason) in enumerate(rules):
            if backend_name == name and fnmatch.fnmatchcase(function, pattern):
                used[i] = True
                item.add_marker(pytest.mark.skip(reason=f"skipped by {path}: {reason}"))
    for (backend_name, pattern, _), hit in zip(rules, used, strict=True):
        if not hit:
            warnings.warn(
                UnmatchedSkipWarning(
                    f"{path}: '{backend_name} {pattern}' matches no collected test"
                ),
                stacklevel=1,
            )


def _read_skip_file(path: Path) -> list[tuple[str, str, str]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise pytest.UsageError(f"--skip-tests: cannot read {path}: {exc}") from exc
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line, _, reason = raw.partition("#")
        words = line.split()
        if not words:
            continue
        if len(words) != 2:
            raise pytest.UsageError(
                f"--skip-tests: {path}:{number}: expected 'BACKEND TEST_PATTERN [# reason]'"
            )
        rules.append((words[0], words[1], reason.strip() or "no reason given"))
    return rules


def pytest_report_collectionfinish(
    config: pytest.Config, start_path: Path, items: list[pytest.Item]
) -> list[str]:
    if not any(map(_uses_backend, items)):
        return []
    profile = settings.get_current_profile_name() if settings is not None else "none"
    return [
        f"rnnbench: backends {', '.join(selected_backends(config))}; "
        f"device {selected_device(config)}; hypothesis profile {profile}"
    ]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    unavailable = config.stash.get(_UNAVAILABLE, {})
    if unavailable:
        terminalreporter.section("rnnbench: backends not tested")
        for name, reason in sorted(unavailable.items()):
            terminalreporter.write_line(f"{name}: {reason}")
