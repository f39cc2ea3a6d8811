"""The conformance kit as a user runs it: ``pytest --pyargs rnnbench.conformance --backend X``
in a subprocess (pytester), against an unrelated project, a --skip-tests file, broken
third-party backends registered through entry points, and the example autograd backend."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import bad_plugins
import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent
EXAMPLE = HERE.parent / "examples" / "autograd_backend"
OPTIONS = ("-p", "no:cacheprovider", "-p", "no:xdist")
DEV = "--hypothesis-profile=dev"
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
    info = root / "bad_plugins_dist-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-plugins-dist\nVersion: 0.0\n")
    lines = [f"{name} = {target}" for name, target in bad_plugins.ENTRY_POINTS.items()]
    (info / "entry_points.txt").write_text("[rnnbench.backends]\n" + "\n".join(lines) + "\n")
    return pytester


UNRELATED_CONFTEST = """
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
"""

UNRELATED_TESTS = """
import sys

import pytest
from hypothesis import given, settings, strategies as st


def test_plain():
    pass


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


def test_plugin_is_loaded_and_imports_no_framework(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("rnnbench")
    assert not {"torch", "jax", "autograd"} & set(sys.modules)
"""


def test_unrelated_run_is_untouched(pytester, monkeypatch):
    """With the plugin loaded (and even $CI and $RNNBENCH_BACKENDS set), a project that has
    its own hypothesis profile, ``backend`` and ``backend_name`` collects and runs as usual."""
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("RNNBENCH_BACKENDS", "nonesuch")
    pytester.makeconftest(UNRELATED_CONFTEST)
    pytester.makepyfile(test_unrelated=UNRELATED_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)
    assert "rnnbench:" not in output(result)  # no header, no summary section


def test_skip_file_skips_with_the_reason_and_warns_on_unmatched_lines(pytester):
    skips = pytester.path / "skips.txt"
    skips.write_text(
        "# backend  test-name pattern  # reason\n"
        "numpy test_empty_sequence_is_refused  # refused by the caller\n"
        "numpy test_wrong_*_shape_is_named\n"
        "numpy test_no_such_property  # stale line\n"
    )
    result = kit(
        pytester, "--backend", "numpy", f"--skip-tests={skips}", "-rs", DEV,
        target="rnnbench.conformance.test_inputs",
    )  # fmt: skip
    result.assert_outcomes(passed=8, skipped=2, warnings=1)
    for line in (
        f"*SKIPPED*test_inputs.py: skipped by {skips}: refused by the caller",
        f"*SKIPPED*test_inputs.py: skipped by {skips}: no reason given",
        f"*UnmatchedSkipWarning: {skips}: 'numpy test_no_such_property' matches no collected*",
    ):
        result.stdout.fnmatch_lines([line])


def test_malformed_skip_file_is_a_usage_error(pytester):
    skips = pytester.path / "skips.txt"
    skips.write_text("numpy\n")
    result = kit(pytester, "--backend", "numpy", f"--skip-tests={skips}", "--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{skips}:1: expected 'BACKEND TEST_PATTERN [# reason]'" in output(result)


def test_unknown_backend_name_fails_instead_of_skipping_everything(pytester):
    result = kit(pytester, "--backend", "nonesuch", "--co")
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
    backends = [arg for name in names for arg in ("--backend", name)]
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
    backends = ["--backend", "numpy", "--backend", "import-fails", "--backend", "needs-missing"]
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
    result = kit(pytester, "--backend", "rnnbench_autograd:AutogradBackend", "-x", DEV, "-rs")
    assert result.ret == 0, output(result)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 100, outcomes
    skips = [line for line in output(result).splitlines() if line.startswith("SKIPPED")]
    assert skips, outcomes  # the example implements the elman cell only: lstm, gru skip
    assert all(re.search(r"does not declare cell (lstm|gru)$", line) for line in skips), skips
