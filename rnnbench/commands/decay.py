"""`rnnbench decay`: the gradient-decay study (also a section of `rnnbench run`).

For every activation and alpha of a ``DecaySettings`` (W_hh = alpha * Q, a cotangent at the
last step only) it measures the decay curve of every backend's BPTT adjoints, beside the
theory and the float64 reference, compares each curve with the reference and classifies it.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rnnbench import decay
from rnnbench.commands import options
from rnnbench.commands.session import Tables, run_session, settings_record
from rnnbench.harness.guard import BackendRunner
from rnnbench.harness.machine import available_memory_bytes
from rnnbench.harness.progress import Progress
from rnnbench.interface import Backend
from rnnbench.presets import DecaySettings, check_fits
from rnnbench.problems import DTYPES, ProblemData, make_data
from rnnbench.reference import reference_grads
from rnnbench.report.pages import write_decay
from rnnbench.report.tables import (
    DECAY_SUMMARY_COLUMNS,
    REFERENCE,
    THEORY,
    Row,
    failure,
    status_row,
    text_table,
)
from rnnbench.tolerances import tolerance

#: the status message of a backend that cannot draw decay curves
NO_ADJOINTS = "declares no per-step adjoints (provides_adjoints = False): no decay curves"


NAME = "decay"
SUMMARY = (
    "Gradient-decay curves ||dL/dh_(T-k)|| / ||dL/dh_T|| against k per backend, "
    "activation and alpha (W_hh = alpha * Q), beside theory (alpha^k for the identity, "
    "Pascanu's bound (gamma*alpha)^k otherwise), with fitted rates, a vanishing/stable/"
    "exploding verdict, over/underflow points and agreement with the float64 reference."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rnnbench decay`."""
    defaults = DecaySettings()
    options.add_backend_option(parser)
    parser.add_argument(
        "--size",
        type=options.size,
        default=defaults.size,
        metavar="T,B,D,H",
        help="problem size (default: T=1000 B=1 D=64 H=64)",
    )
    parser.add_argument(
        "--activation",
        action="append",
        choices=options.ACTIVATION_CHOICES,
        help=f"activation, repeatable (default: {', '.join(defaults.activations)})",
    )
    parser.add_argument(
        "--alpha",
        action="append",
        type=options.positive_float,
        help=f"scale of W_hh = alpha * Q, repeatable (default: "
        f"{', '.join(map(str, defaults.alphas))})",
    )
    parser.add_argument("--dtype", choices=DTYPES, default=defaults.dtype, help="precision")
    parser.add_argument("--seed", type=options.non_negative_int, default=0, help="data seed")
    options.add_device_option(parser)
    options.add_threads_option(parser)
    options.add_call_timeout_option(parser)
    options.add_output_options(parser)


def execute(args: argparse.Namespace) -> int:
    """Decay curves of every selected backend, written to a run folder."""
    defaults = DecaySettings()
    settings = DecaySettings(
        size=args.size,
        activations=tuple(dict.fromkeys(args.activation or defaults.activations)),
        alphas=tuple(dict.fromkeys(args.alpha or defaults.alphas)),
        dtype=args.dtype,
        seed=args.seed,
    )
    check_settings(settings)

    def measure(backends: Mapping[str, Backend], progress: Progress) -> tuple[Tables, Row]:
        study = decay_study(backends, settings, progress, BackendRunner(args.call_timeout))
        return study, {"settings": settings_record(settings), "call_timeout_s": args.call_timeout}

    finished = run_session(
        NAME,
        args.backend,
        count_tasks=lambda n_backends: task_count(settings, n_backends),
        measure=measure,
        write=write_decay,
        quiet=args.quiet,
        out=args.out,
        device=args.device,
        threads=args.threads,
        clean_partial=args.clean_partial,
    )
    print(text_table(finished.tables["decay_summary"], DECAY_SUMMARY_COLUMNS))
    print(f"results: {finished.folder}")
    return finished.exit_code()


def check_settings(settings: DecaySettings) -> None:
    """InputError, before anything runs, if a problem of the study is invalid or its size
    does not fit in this machine's memory."""
    check_fits(settings.size, settings.dtype, available_memory_bytes())
    for activation in settings.activations:
        for alpha in settings.alphas:
            settings.problem(activation, alpha)


def task_count(settings: DecaySettings, n_backends: int) -> int:
    """The progress tasks of ``decay_study``: the reference and each backend, per curve."""
    return len(settings.activations) * len(settings.alphas) * (1 + n_backends)


def decay_study(
    backends: Mapping[str, Backend],
    settings: DecaySettings,
    progress: Progress,
    runner: BackendRunner | None = None,
) -> Tables:
    """The study's tables for ``backends`` (runnable, by name): "decay_curves" (source,
    activation, alpha, k, ratio, valid), "decay_summary" (one row per curve) and "status"
    (a row per backend and curve that was skipped, failed or disagrees), with the theory
    and the float64 reference as two more sources. Backends are called through ``runner``
    (default: one without a time limit)."""
    runner = runner or BackendRunner()
    curves: list[Row] = []
    summary: list[Row] = []
    status: list[Row] = []
    T = settings.size.T
    allowed = tolerance(settings.dtype, T)
    for activation in settings.activations:
        for alpha in settings.alphas:
            data = make_data(settings.problem(activation, alpha))
            key = {"activation": activation, "alpha": alpha}
            task = f"decay {activation} alpha={alpha:g}"
            progress.show(f"{task}: float64 reference")
            reference = reference_curve(data)
            theory, theory_rate, theory_kind = _theory(activation, alpha, data.W_hh, T)
            theory_columns = {"theory_rate": theory_rate, "theory": theory_kind}
            curves += _curve_rows(THEORY, key, theory, np.ones(T, bool))
            curves += _curve_rows(REFERENCE, key, reference.ratios, reference.valid)
            summary.append(
                {
                    "source": REFERENCE,
                    **key,
                    **_curve_columns(reference, "float64"),
                    **theory_columns,
                }
            )
            progress.advance()
            for name, backend in backends.items():
                progress.show(f"{task}: {name}")
                if not backend.provides_adjoints:
                    status.append(status_row(name, task, "skipped", NO_ADJOINTS))
                    progress.advance()
                    continue
                try:
                    task = functools.partial(backend_decay_curve, data=data)
                    measured = runner.run(name, backend, task)
                except Exception as exc:
                    status.append(status_row(name, task, *failure(exc)))
                else:
                    curve = measured.curve
                    curves += _curve_rows(name, key, curve.ratios, curve.valid)
                    error, compared = curve_error(measured, reference)
                    agrees = bool(error <= allowed)
                    summary.append(
                        {
                            "source": name,
                            **key,
                            **_curve_columns(curve, settings.dtype),
                            **theory_columns,
                            "error_vs_reference": error,
                            "compared_k": compared,
                            "tolerance": allowed,
                            "agrees": agrees,
                        }
                    )
                    if not agrees:
                        message = f"curve error {error:.3g} > tolerance {allowed:.3g}"
                        status.append(status_row(name, task, "disagrees", message))
                progress.advance()
    return {"decay_curves": curves, "decay_summary": summary, "status": status}


def reference_curve(data: ProblemData) -> decay.DecayCurve:
    """The decay curve of the float64 reference's adjoints (T, B, H) on ``data``."""
    with np.errstate(all="ignore"):
        adjoints = reference_grads(data).hs
    return decay.decay_curve(adjoints)


def _theory(
    activation: str, alpha: float, W_hh: np.ndarray, T: int
) -> tuple[np.ndarray, float, str]:
    """The theory beside a curve of W_hh (H, H) = alpha * Q: its ratios (T,) from
    ``decay.theory_curve``, its per-step rate and which theory it is (exact alpha^k for the
    identity activation, else Pascanu's bound)."""
    if activation == "identity":
        rate, kind, exact = alpha, "exact alpha^k", alpha
    else:
        rate, kind, exact = decay.pascanu_rate(activation, W_hh), "Pascanu bound (gamma*s)^k", None
    return decay.theory_curve(activation, W_hh, T, exact_alpha=exact), rate, kind


@dataclass(frozen=True)
class MeasuredCurve:
    """A backend's decay curve and the mask (T,) of the k at which it can be compared."""

    curve: decay.DecayCurve
    comparable: np.ndarray


def backend_decay_curve(backend: Backend, data: ProblemData) -> MeasuredCurve:
    """The decay curve of one backend's BPTT adjoints (T, B, H); overflow propagates as inf."""
    inputs = backend.load(data)
    with np.errstate(all="ignore"):
        grads = backend.bptt(
            inputs.params, inputs.xs, inputs.h0, inputs.dhs, activation=data.problem.activation
        )
        adjoints = backend.to_numpy(grads.hs)
        curve = decay.decay_curve(adjoints)
    return MeasuredCurve(curve, curve.valid & far_from_subnormal(adjoints))


def far_from_subnormal(adjoints: np.ndarray) -> np.ndarray:
    """(T,) mask over k (k = 0 is the last step) of adjoints (T, ...): the adjoint's largest
    entry is at least tiny / eps of its dtype. Below that its small entries and partial
    products are subnormal, which backends treat differently (XLA on CPU flushes them to
    zero, NumPy underflows gradually), so relative agreement is not expected there."""
    info = np.finfo(adjoints.dtype)
    flat = np.abs(adjoints.reshape(adjoints.shape[0], -1)[::-1])
    peak = np.max(np.where(np.isfinite(flat), flat, np.inf), axis=1)
    return peak >= info.tiny / info.eps


def curve_error(measured: MeasuredCurve, reference: decay.DecayCurve) -> tuple[float, int]:
    """Worst relative error max |r - r_ref| / r_ref over the k comparable in the measured
    curve and valid in the reference (inf if there are none), and the number of those k."""
    mask = measured.comparable & reference.valid
    if not mask.any():
        return math.inf, 0
    ratios, expected = measured.curve.ratios[mask], reference.ratios[mask]
    return float(np.max(np.abs(ratios - expected) / expected)), int(mask.sum())


def _curve_rows(source: str, key: Row, ratios: np.ndarray, valid: np.ndarray) -> list[Row]:
    """One row per k of a curve: ratios (K,) and valid (K,)."""
    return [
        {"source": source, **key, "k": k, "ratio": float(r), "valid": bool(v)}
        for k, (r, v) in enumerate(zip(ratios, valid, strict=True))
    ]


def _curve_columns(curve: decay.DecayCurve, dtype: str) -> Row:
    """The summary columns of one curve: status, where it left the normal range, the fitted
    rate and its verdict."""
    rate = decay.fitted_rate(curve)
    valid = np.flatnonzero(curve.valid)
    return {
        "dtype": dtype,
        "status": curve.status(),
        "overflow_k": curve.overflow_k,
        "underflow_k": curve.underflow_k,
        "last_valid_k": int(valid[-1]) if valid.size else None,
        "fitted_rate": rate,
        "verdict": decay.classify(rate),
    }
