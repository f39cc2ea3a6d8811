"""Decay curves (rnnbench.decay) and the comparison of a backend's curve with the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bad_plugins import NoAdjointsBackend

from rnnbench import decay
from rnnbench.commands import decay as decay_study
from rnnbench.commands.decay import (
    MeasuredCurve,
    backend_decay_curve,
    curve_error,
    far_from_subnormal,
)
from rnnbench.harness.progress import Progress
from rnnbench.presets import DecaySettings, Size
from rnnbench.problems import make_data
from rnnbench.registry import get_backend


def geometric_adjoints(rate: float, T: int, dtype: str = "float64") -> np.ndarray:
    """Adjoints (T, 2, 3) whose norm at distance k from the end is 5 * rate**k."""
    adjoints = np.zeros((T, 2, 3), dtype)
    with np.errstate(over="ignore", under="ignore"):
        scales = np.asarray(rate, dtype) ** np.arange(T, dtype=dtype)[::-1]
        adjoints[:, 0, 0] = 3 * scales
        adjoints[:, 1, 2] = 4 * scales
    return adjoints


def test_curve_of_a_geometric_sequence_is_its_powers():
    curve = decay.decay_curve(geometric_adjoints(0.8, 30))
    np.testing.assert_allclose(curve.ratios, 0.8 ** np.arange(30), rtol=1e-13)
    assert curve.status() == "ok"
    assert curve.valid.all()
    assert decay.fitted_rate(curve) == pytest.approx(0.8, rel=1e-12)


def test_float64_curves_far_below_1e_minus_154_do_not_vanish():
    """Squaring entries of 1e-200 underflows; the curve must still be 1e-200-ish."""
    curve = decay.decay_curve(geometric_adjoints(1e-20, 12))
    np.testing.assert_allclose(curve.ratios, 1e-20 ** np.arange(12.0), rtol=1e-12)
    assert curve.valid.all()
    big = decay.decay_curve(geometric_adjoints(1e20, 12))
    np.testing.assert_allclose(big.ratios, 1e20 ** np.arange(12.0), rtol=1e-12)


def test_float32_overflow_is_reported_at_its_k_not_raised():
    adjoints = geometric_adjoints(10.0, 45, "float32")  # 4e38 > 3.4e38, the float32 max
    curve = decay.decay_curve(adjoints)
    assert curve.overflow_k == 38
    assert curve.status() == "overflowed at k = 38"
    assert not curve.valid[38:].any() and curve.valid[:38].all()


def test_float32_underflow_is_reported():
    curve = decay.decay_curve(geometric_adjoints(0.1, 45, "float32"))
    assert curve.underflow_k == 39  # 4e-39 is the first peak below tiny = 1.2e-38
    assert curve.status().startswith("underflowed at k = ")
    assert decay.fitted_rate(curve) == pytest.approx(0.1, rel=1e-5)


def test_theory_curves():
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 5)))[0]
    assert decay.pascanu_rate("tanh", 1.3 * Q) == pytest.approx(1.3)
    assert decay.pascanu_rate("sigmoid", 1.3 * Q) == pytest.approx(0.325)
    np.testing.assert_allclose(
        decay.theory_curve("identity", 1.3 * Q, 4, exact_alpha=1.3), 1.3 ** np.arange(4)
    )
    np.testing.assert_allclose(decay.theory_curve("sigmoid", 2 * Q, 3), 0.5 ** np.arange(3))


@pytest.mark.parametrize(
    ("rate", "verdict"),
    [(0.5, "vanishing"), (0.99, "stable"), (1.01, "stable"), (1.1, "exploding")],
)
def test_classify(rate, verdict):
    assert decay.classify(rate) == verdict


def test_classify_undetermined_without_a_rate():
    assert decay.classify(math.nan) == "undetermined"
    assert decay.fitted_rate(decay.decay_curve(geometric_adjoints(0.5, 1))) != 0.5


def test_identity_alpha_1_1_overflows_float32_near_k_920():
    """The default decay study: W_hh = 1.1 Q, T = 1000, float32 -> inf near k = 922."""
    settings = DecaySettings()
    measured = backend_decay_curve(
        get_backend("numpy"), make_data(settings.problem("identity", 1.1))
    )
    assert 900 <= measured.curve.overflow_k <= 930
    assert decay.classify(decay.fitted_rate(measured.curve)) == "exploding"
    assert decay.fitted_rate(measured.curve) == pytest.approx(1.1, rel=1e-6)


def test_float32_curve_agrees_with_the_float64_reference():
    settings = DecaySettings(size=Size(300, 2, 8, 16))
    backend = get_backend("numpy")
    for activation, alpha in [("identity", 0.9), ("tanh", 1.1), ("sigmoid", 1.0)]:
        data = make_data(settings.problem(activation, alpha))
        measured = backend_decay_curve(backend, data)
        reference = backend_decay_curve(backend, data.astype("float64")).curve
        error, compared = curve_error(measured, reference)
        assert compared > 10
        assert error < 1e-4, (activation, alpha, error)


def test_curve_error_is_relative_and_counts_the_compared_k():
    reference = decay.decay_curve(geometric_adjoints(0.5, 10))
    scaled = decay.DecayCurve(reference.ratios * 1.01, None, None)
    error, compared = curve_error(MeasuredCurve(scaled, scaled.valid), reference)
    assert compared == 10
    assert error == pytest.approx(0.01)
    nothing = MeasuredCurve(scaled, np.zeros(10, bool))
    assert curve_error(nothing, reference) == (math.inf, 0)


def test_subnormal_neighbourhood_is_not_compared():
    adjoints = geometric_adjoints(0.1, 45, "float32")
    mask = far_from_subnormal(adjoints)
    tiny_over_eps = np.finfo(np.float32).tiny / np.finfo(np.float32).eps
    peaks = np.abs(adjoints[::-1]).reshape(45, -1).max(1)
    np.testing.assert_array_equal(mask, peaks >= tiny_over_eps)
    assert mask[:30].all() and not mask[33:].any()


def test_backend_without_adjoints_is_listed_as_unable_to_draw_curves():
    settings = DecaySettings(size=Size(4, 1, 2, 3), activations=("identity",), alphas=(1.0,))
    reason = "no-adjoints declares that it cannot give dL/dh for elman"
    progress = Progress(decay_study.task_count(settings, 1), enabled=False)
    tables = decay_study.decay_study({"no-adjoints": NoAdjointsBackend()}, settings, progress)
    assert tables["status"] == [
        {
            "backend": "no-adjoints",
            "task": "decay elman identity alpha=1 dL/dh",
            "status": "skipped",
            "message": reason,
        }
    ]
    assert {row["source"] for row in tables["decay_curves"]} == {"theory", "float64 reference"}


def test_cells_side_by_side_with_every_state_part_and_declared_gaps():
    """elman, lstm and gru at the same alpha: a curve per state part (the LSTM's h and c),
    no theory for the gated cells, and a fused backend's missing adjoint a skipped row."""
    settings = DecaySettings(
        size=Size(30, 1, 4, 4), activations=("tanh",), alphas=(1.0,), cells=("elman", "lstm", "gru")
    )
    backends = {"numpy": get_backend("numpy"), "torch-nn": get_backend("torch-nn")}
    tables = decay_study.decay_study(backends, settings, Progress(8, enabled=False))
    curves = {(r["source"], r["cell"], r["state"]) for r in tables["decay_summary"]}
    assert ("numpy", "lstm", "c") in curves and ("numpy", "gru", "h") in curves
    assert ("torch-nn", "lstm", "h") in curves
    assert ("torch-nn", "lstm", "c") not in curves and ("torch-nn", "gru", "h") not in curves
    skipped = [r["task"] for r in tables["status"] if r["status"] == "skipped"]
    assert skipped == ["decay lstm tanh alpha=1 dL/dc", "decay gru tanh alpha=1 dL/dh"]
    theories = {r["cell"]: r["theory"] for r in tables["decay_summary"]}
    assert theories["lstm"] == theories["gru"] == "none (gated cell)"
    assert all(r["agrees"] for r in tables["decay_summary"] if r["source"] != "float64 reference")
