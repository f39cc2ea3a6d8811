"""Meta-tests: the conformance suite fails on each deliberately broken backend.

Each mutant is run through the real kit command in a subprocess, restricted to one property
that does not use the reference and one that does; both must fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent

#: mutant -> (a reference-free property that catches it, a reference comparison that does)
CAUGHT_BY = {
    "SignFlipBackend": ("test_gradients_match_central_differences", "test_bptt_matches"),
    "OffByOneBackend": ("test_single_step_bptt_is_plain_backprop", "test_bptt_matches"),
    "DroppedBiasBackend": ("test_gradients_match_central_differences", "test_bptt_matches"),
    "LeakyTruncationBackend": (
        "test_truncation_is_exactly_zero_beyond_the_window",
        "test_truncated_bptt_matches",
    ),
    "Float32DowncastBackend": ("test_gradients_match_central_differences", "test_unroll_matches"),
    "SwappedGateOrderBackend": (
        "test_gate_decay_is_exactly_a_power_of_the_gate and lstm",
        "test_unroll_matches and lstm",
    ),
    "SwappedGruGatesBackend": (
        "test_gate_decay_is_exactly_a_power_of_the_gate and gru",
        "test_unroll_matches and gru",
    ),
    "DroppedForgetGateGradientBackend": (
        "test_gradients_match_central_differences and lstm",
        "test_bptt_matches and lstm",
    ),
    "ResetBeforeProductBackend": (
        "test_gradients_match_central_differences and gru",
        "test_unroll_matches and gru",
    ),
    "MissingCellCarryBackend": (
        "test_gradients_match_central_differences and lstm",
        "test_bptt_matches and lstm",
    ),
}


def run_kit(backend: str, selection: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "rnnbench.conformance",
        "--rnnbench-backend",
        backend,
        "-k",
        selection,
        "-x",
        "-q",
        "--tb=line",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "--rnnbench-profile=dev",
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("property_kind", ["reference-free", "against-reference"])
@pytest.mark.parametrize("mutant", sorted(CAUGHT_BY))
def test_suite_catches_mutant(mutant, property_kind):
    selection = CAUGHT_BY[mutant][property_kind == "against-reference"]
    result = run_kit(f"mutants:{mutant}", selection)
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"suite did not fail on {mutant} ({selection}):\n{output}"
    assert "1 failed" in output, output


def test_suite_passes_on_the_unbroken_reference():
    """The same command on the reference itself passes, so the failures above are the bugs."""
    selection = " or ".join(sorted({f"({name})" for pair in CAUGHT_BY.values() for name in pair}))
    result = run_kit("numpy", selection)
    assert result.returncode == 0, result.stdout + result.stderr
