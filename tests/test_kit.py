"""The conformance kit as a user runs it, ``pytest --pyargs rnnbench.conformance
--rnnbench-backend X`` in a subprocess (pytester): unrelated projects it must leave alone,
skip and xfail files, the example database, the time limit, broken third-party backends
registered through entry points, and the example autograd backend."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import bad_plugins
import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent
EXAMPLE = HERE.parent / "examples" / "autograd_backend"
OPTIONS = ("-p", "no:cacheprovider", "-p", "no:xdist")
DEV = "--rnnbench-profile=dev"
#: a plugin module for the subprocesses: a hypothesis profile that finds a failure of a
#: broken backend fast, deterministically, and does not spend time shrinking it
QUICK_PROFILE = """
from hypothesis import Phase, settings

settings.register_profile(
    "kit-quick", max_examples=3, derandomize=True, database=None, deadline=None,
    phases=[Phase.explicit, Phase.generate],
)
"""
QUICK = ("-p", "kit_quick_profile", "--hypothesis-profile=kit-quick")
ONE_CASE = "float32 and tanh and (test_unroll_matches_reference or test_bptt_matches_reference)"


def kit(pytester: pytest.Pytester, *args: str, target: str = "rnnbench.conformance"):
    return pytester.runpytest_subprocess("--pyargs", target, *OPTIONS, *args, timeout=300)


def output(result: pytest.RunResult) -> str:
    return "\n".join(result.outlines + result.errlines)


@pytest.fixture
def plugins(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The bad backends on the subprocesses' path (the pytester directory), registered through
    the ``rnnbench.backends`` entry points of a fake installed distribution there."""
    monkeypatch.setenv("COLUMNS", "400")  # summary lines in full
    root = pytester.path
    (root / "kit_quick_profile.py").write_text(QUICK_PROFILE)
    (root / "bad_plugins.py").write_text(Path(bad_plugins.__file__).read_text())
    (root / "bad_plugin_import_fails.py").write_text(bad_plugins.IMPORT_FAILS_SOURCE)
    (root / "bad_plugin_eager_import.py").write_text(bad_plugins.EAGER_IMPORT_SOURCE)
    (root / "fake_framework.py").write_text("")
    info = root / "bad_plugins_dist-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-plugins-dist\nVersion: 0.0\n")
    lines = [f"{name} = {target}" for name, target in bad_plugins.ENTRY_POINTS.items()]
    (info / "entry_points.txt").write_text("[rnnbench.backends]\n" + "\n".join(lines) + "\n")
    return pytester


#: throwaway projects that know nothing of rnnbench: each must run exactly as it does with
#: ``-p no:rnnbench``. Their conftest reports whether the plugin is loaded, in the header.
LOADED_HEADER = """
def pytest_report_header(config):
    return f"kit plugin loaded: {config.pluginmanager.has_plugin('rnnbench')}"
"""

OWN_OPTIONS = (
    LOADED_HEADER
    + """
def pytest_addoption(parser):
    parser.addoption("--backend", default="numpy")
    parser.addoption("--device", default="cpu")
""",
    """
def test_own_options(pytestconfig):
    assert pytestconfig.getoption("backend") == "theirs"
    assert pytestconfig.getoption("device") == "tpu"
""",
    ("--backend", "theirs", "--device", "tpu"),
)

HYPOTHESIS_CI_PROFILE = (
    LOADED_HEADER,
    """
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.errors import InvalidArgument


def test_the_ci_profile_is_hypothesis_own():
    assert settings.get_current_profile_name() == "ci"
    assert settings().max_examples == 100
    assert settings().derandomize


@pytest.mark.parametrize("name", ["rnnbench-dev", "rnnbench-ci", "rnnbench-thorough"])
def test_no_profile_of_the_kit_is_registered(name):
    with pytest.raises(InvalidArgument):
        settings.get_profile(name)


@given(st.integers())
def test_hypothesis_runs_as_usual(n):
    assert settings().max_examples == 100
""",
    (),
)

OWN_FIXTURES = (
    LOADED_HEADER
    + """
import pytest
from hypothesis import settings

settings.register_profile("mine", max_examples=7)
settings.load_profile("mine")


@pytest.fixture
def backend():
    return "mine"


@pytest.fixture
def backend_name():
    return "theirs"
""",
    """
import sys

import pytest
from hypothesis import given, settings, strategies as st


def test_own_backend_fixture(backend):
    assert backend == "mine"


def test_own_backend_name_fixture(backend_name):
    assert backend_name == "theirs"


@pytest.mark.parametrize("backend_name", ["x", "y"])
def test_own_backend_name_parameter(backend_name):
    assert backend_name in "xy"


@given(st.integers())
def test_hypothesis_keeps_its_profile(n):
    assert settings.get_current_profile_name() == "mine"
    assert settings.default.max_examples == 7


def test_no_framework_is_imported():
    assert not {"torch", "jax", "autograd"} & set(sys.modules)
""",
    (),
)


@pytest.mark.parametrize(
    "project",
    [OWN_OPTIONS, HYPOTHESIS_CI_PROFILE, OWN_FIXTURES],
    ids=["own --backend and --device", "hypothesis's ci profile", "own backend fixtures"],
)
def test_unrelated_project_runs_as_without_the_plugin(pytester, monkeypatch, project):
    """With rnnbench installed (and $CI and $RNNBENCH_BACKENDS set), a project that has its
    own --backend/--device options, relies on hypothesis's built-in ci profile, or has its
    own backend fixtures and hypothesis profile, runs as with ``-p no:rnnbench``."""
    conftest, tests, args = project
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("RNNBENCH_BACKENDS", "nonesuch")
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_unrelated=tests)
    runs = {}
    for loaded, disable in ((True, ()), (False, ("-p", "no:rnnbench"))):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *disable, *args)
        text = output(result)
        assert result.ret == pytest.ExitCode.OK, text
        assert f"kit plugin loaded: {loaded}" in text
        assert "rnnbench:" not in text  # no header, no summary section of the kit
        runs[loaded] = result.parseoutcomes()
    assert runs[True] == runs[False]


def test_skip_file_skips_with_the_reason_and_warns_on_unmatched_lines(pytester):
    skips = pytester.path / "skips.txt"
    skips.write_text(
        "# backend  test-name pattern  # reason\n"
        "numpy test_empty_sequence_is_refused  # refused by the caller\n"
        "numpy test_wrong_*_shape_is_named\n"
        "numpy test_bad_truncation_window_is_refused[numpy-1.5]  # one parametrized case\n"
        "numpy test_no_such_property  # stale line\n"
    )
    result = kit(
        pytester, "--rnnbench-backend", "numpy", f"--rnnbench-skip-tests={skips}", "-rs", DEV,
        target="rnnbench.conformance.test_inputs",
    )  # fmt: skip
    result.assert_outcomes(passed=7, skipped=3, warnings=1)
    for line in (
        f"*SKIPPED*test_inputs.py: skipped by {skips}: refused by the caller",
        f"*SKIPPED*test_inputs.py: skipped by {skips}: no reason given",
        f"*SKIPPED*test_inputs.py:*: skipped by {skips}: one parametrized case",
        f"*UnmatchedRuleWarning: {skips}: 'numpy test_no_such_property' matches no collected*",
    ):
        result.stdout.fnmatch_lines([line])


def test_xfail_file_is_strict_and_matches_parametrized_cases(plugins):
    """Expected failures that fail are xfailed, one that passes fails the run (strict), a
    stale line warns; patterns pick cases by their parameters, brackets included."""
    xfails = plugins.path / "xfails.txt"
    xfails.write_text(
        "wrong-shape test_unroll_matches_reference[*float32-elman-tanh]  # flattens its states\n"
        "wrong-shape test_bptt_matches_reference  # flattens its adjoints\n"
        "numpy test_unroll_matches_reference[numpy-float32-elman-tanh]  # stale: it passes\n"
        "numpy test_no_such_property\n"
    )
    backends = ("--rnnbench-backend=numpy", "--rnnbench-backend=wrong-shape")
    result = kit(plugins, *backends, *QUICK, "-k", ONE_CASE, f"--rnnbench-xfail={xfails}", "-rA")
    result.assert_outcomes(passed=1, failed=1, xfailed=2, warnings=1)
    text = output(result)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert re.search(
        r"FAILED .*test_unroll_matches_reference\[numpy-float32-elman-tanh\].*XPASS\(strict\).*"
        r"expected to fail by .*xfails.txt: stale: it passes",
        text,
    ), text
    assert re.search(r"XFAIL .*test_bptt_matches_reference\[wrong-shape-float32-elman-tanh\]", text)
    assert "UnmatchedRuleWarning" in text and "'numpy test_no_such_property'" in text


@pytest.mark.parametrize("option", ["--rnnbench-skip-tests", "--rnnbench-xfail"])
def test_malformed_rule_file_is_a_usage_error(pytester, option):
    rules = pytester.path / "rules.txt"
    rules.write_text("numpy\n")
    result = kit(pytester, "--rnnbench-backend", "numpy", f"{option}={rules}", "--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{option}: {rules}:1: expected 'BACKEND TEST_PATTERN [# reason]'" in output(result)


def test_old_option_spellings_are_gone(pytester):
    """--backend and friends are left to other plugins and projects."""
    result = kit(pytester, "--backend", "numpy", "--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --backend" in output(result)


def test_ci_profile_writes_no_example_database(plugins, monkeypatch):
    """Under $CI the kit runs rnnbench-ci, which saves nothing, not even the failures."""
    monkeypatch.setenv("CI", "true")
    backends = ("--rnnbench-backend=numpy", "--rnnbench-backend=wrong-shape")
    result = kit(plugins, *backends, "-k", ONE_CASE)
    result.assert_outcomes(passed=2, failed=2)
    assert "hypothesis profile rnnbench-ci;" in output(result)
    assert not (plugins.path / ".hypothesis").exists()


def test_shared_example_database_gets_the_failures(plugins, monkeypatch):
    """--rnnbench-hypothesis-db (or $RNNBENCH_HYPOTHESIS_DB) points the kit, under any of
    its profiles, at a database that other machines replay first."""
    args = ("--rnnbench-backend=wrong-shape", "-k", ONE_CASE, "--rnnbench-profile=ci")
    shared = plugins.path / "shared"
    result = kit(plugins, *args, f"--rnnbench-hypothesis-db={shared}")
    result.assert_outcomes(failed=2)
    assert len(list(shared.rglob("*"))) >= 4  # a key folder and an example per failing test

    from_env = plugins.path / "from-env"
    monkeypatch.setenv("RNNBENCH_HYPOTHESIS_DB", str(from_env))
    kit(plugins, *args).assert_outcomes(failed=2)
    assert len(list(from_env.rglob("*"))) >= 4
    assert not (plugins.path / ".hypothesis").exists()


def test_hanging_backend_fails_under_its_name_without_hanging_the_suite(plugins):
    """A call over --rnnbench-timeout fails its test with the reproduction; later calls of
    that backend fail at once; the other backends are unaffected."""
    backends = ("--rnnbench-backend=numpy", "--rnnbench-backend=sleeps-in-bptt")
    selection = f"({ONE_CASE}) or (float32 and tanh and test_truncated_bptt_matches_reference)"
    start = time.monotonic()
    result = kit(plugins, *backends, *QUICK, "-k", selection, "--rnnbench-timeout=2", "-rA")
    elapsed = time.monotonic() - start
    result.assert_outcomes(passed=4, failed=2)
    text = output(result)
    hung = (
        "backend 'sleeps-in-bptt': b.bptt(i.params, i.xs, i.h0, i.dhs, activation='tanh', "
        "truncate=None) did not return within 2 s (--rnnbench-timeout)"
    )
    for test in ("test_bptt_matches_reference", "test_truncated_bptt_matches_reference"):
        assert re.search(
            rf"FAILED .*{test}\[sleeps-in-bptt-float32-elman-tanh\] - .*BackendTimeoutError: "
            + re.escape(hung),
            text,
        ), text
    assert "b = rnnbench.get_backend('sleeps-in-bptt', device='cpu')" in text
    assert "time limit 2 s per backend call" in text
    assert elapsed < 60, elapsed  # the sleeping call takes 600 s


def test_backend_without_adjoints_is_held_to_every_other_gradient(plugins):
    """missing_adjoints declares hs: the adjoint checks are skipped with the reason, shown in
    the kit's own summary (no -rs); every other check runs. Leaving hs out without declaring
    it fails, naming what is missing."""
    backends = ("--rnnbench-backend=no-adjoints", "--rnnbench-backend=missing-adjoints")
    result = kit(plugins, *backends, *QUICK, "-k", "float64 and tanh or test_exact_decay")
    text = output(result)
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 10 and outcomes["failed"] >= 4, outcomes
    assert not re.search(r"^FAILED .*\[no-adjoints", text, re.M), text
    assert re.search(
        r"FAILED .*test_bptt_matches_reference\[missing-adjoints-float64-elman-tanh\] - "
        r"AssertionError: bptt returned no hs for the elman cell",
        text,
    ), text
    section = text[text.index("rnnbench: skipped") :]
    assert re.search(
        r"^ +\d+ x no-adjoints declares that it cannot give the elman adjoint hs$",
        section,
        re.M,
    ), section


def test_a_module_that_imports_its_framework_is_warned_of_under_its_name(plugins):
    result = kit(plugins, "--rnnbench-backend=eager-import", *QUICK, "-k", ONE_CASE)
    result.assert_outcomes(passed=2, warnings=1)
    assert (
        "FrameworkImportedWarning: rnnbench: backend 'eager-import': importing "
        "bad_plugin_eager_import imported fake_framework"
    ) in output(result)


def test_unknown_backend_name_fails_instead_of_skipping_everything(pytester):
    result = kit(pytester, "--rnnbench-backend", "nonesuch", "--co")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "rnnbench: unknown backend 'nonesuch'; known backends: numpy" in output(result)


def test_bad_plugins_do_not_break_discovery(plugins):
    code = (
        "import json, sys, rnnbench; infos = rnnbench.list_backends(); print(json.dumps("
        "[{i.name: [i.available, i.reason] for i in infos}, "
        "sorted({'torch', 'jax', 'autograd'} & set(sys.modules))]))"
    )
    result = plugins.run(sys.executable, "-c", code, timeout=60)
    assert result.ret == 0, output(result)
    infos, frameworks = json.loads(result.outlines[-1])
    assert frameworks == []  # discovery imports no framework, the example's autograd included
    assert infos["numpy"] == [True, ""]
    for name in ("wrong-shape", "wrong-dtype", "raises-in-bptt"):
        assert infos[name] == [True, ""], name  # they import fine: only the kit can tell
    available, reason = infos["import-fails"]
    assert not available
    assert reason == (
        "backend 'import-fails' (bad_plugin_import_fails:Backend) failed to import: "
        "RuntimeError: this plugin is broken at import"
    )
    available, reason = infos["needs-missing"]
    assert not available
    assert "surely_not_an_installed_framework" in reason
    assert "pip install surely-not-an-installed-framework" in reason


def test_bad_plugins_fail_under_their_own_names(plugins):
    """Each broken backend fails with what is wrong; the reference run alongside passes."""
    names = ["numpy", "wrong-shape", "wrong-dtype", "raises-in-bptt"]
    backends = [arg for name in names for arg in ("--rnnbench-backend", name)]
    result = kit(plugins, *backends, *QUICK, "-k", ONE_CASE, "--tb=short", "-rA")
    result.assert_outcomes(passed=3, failed=5)
    text = output(result)
    assert "rnnbench: backends numpy, wrong-shape, wrong-dtype, raises-in-bptt;" in text
    expected = [
        r"PASSED .*test_unroll_matches_reference\[numpy-float32-elman-tanh\]",
        r"PASSED .*test_bptt_matches_reference\[numpy-float32-elman-tanh\]",
        r"PASSED .*test_unroll_matches_reference\[raises-in-bptt-float32-elman-tanh\]",
        r"FAILED .*test_unroll_matches_reference\[wrong-shape-float32-elman-tanh\] "
        r"- AssertionError: "
        r"unroll hs: shape \(\d+, \d+\) != expected \(\d+, \d+, \d+\)",
        r"FAILED .*test_bptt_matches_reference\[wrong-shape-float32-elman-tanh\] "
        r"- AssertionError: "
        r"bptt dL/dhs: shape \(\d+, \d+\) != expected \(\d+, \d+, \d+\)",
        r"FAILED .*test_unroll_matches_reference\[wrong-dtype-float32-elman-tanh\] "
        r"- AssertionError: "
        r"unroll hs: dtype float64 != expected float32",
        r"FAILED .*test_bptt_matches_reference\[wrong-dtype-float32-elman-tanh\] "
        r"- AssertionError: "
        r"bptt dL/dW_xh: dtype float64 != expected float32",
        r"FAILED .*test_bptt_matches_reference\[raises-in-bptt-float32-elman-tanh\] "
        r"- RuntimeError: "
        r"raises-in-bptt: kernel failed",
    ]
    for pattern in expected:
        assert re.search(pattern, text), f"{pattern!r} not in:\n{text}"
    for name in ("wrong-shape", "wrong-dtype"):  # the reproduction names the backend
        assert f"rnnbench.get_backend({name!r}, device='cpu')" in text


def test_missing_framework_skips_and_broken_plugin_errors_with_the_reason(plugins):
    """A backend whose framework is not installed is skipped; one that is installed but fails
    to import is an error (a green run must not hide it); both say why."""
    backends = [f"--rnnbench-backend={name}" for name in ("numpy", "import-fails", "needs-missing")]
    result = kit(plugins, *backends, *QUICK, "-k", ONE_CASE, "-rsE")
    result.assert_outcomes(passed=2, skipped=2, errors=2)
    text = output(result)
    assert (
        "backend 'import-fails' failed to load: backend 'import-fails' "
        "(bad_plugin_import_fails:Backend) failed to import: "
        "RuntimeError: this plugin is broken at import"
    ) in text
    assert (
        "backend 'needs-missing' unavailable: backend 'needs-missing' needs "
        "surely_not_an_installed_framework, which is not installed: "
        "pip install surely-not-an-installed-framework"
    ) in text
    section = text[text.index("rnnbench: backends not tested") :]
    assert re.search(r"^import-fails: FAILED TO LOAD: .*failed to import", section, re.M), section
    assert re.search(r"^needs-missing: .*which is not installed", section, re.M), section


def test_example_autograd_backend_passes_the_kit(pytester, monkeypatch):
    """The worked example of examples/autograd_backend, from its source tree."""
    if importlib.util.find_spec("autograd") is None:  # no import: pytester would unload it
        pytest.skip("the example backend needs autograd: pip install autograd")
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLE))
    result = kit(
        pytester, "--rnnbench-backend", "rnnbench_autograd:AutogradBackend", "-x", DEV, "-rs"
    )
    assert result.ret == 0, output(result)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 100, outcomes
    skips = [line for line in output(result).splitlines() if line.startswith("SKIPPED")]
    assert skips, outcomes  # the example implements the elman cell only: lstm, gru skip
    assert all(re.search(r"does not declare cell (lstm|gru)$", line) for line in skips), skips
