"""`rnnbench decay`: the gradient-decay study (also a section of `rnnbench run`).

For every cell, activation and alpha of a ``DecaySettings`` (recurrent weights alpha * Q per
gate, a cotangent at the last step only) it measures the decay curve of every backend's BPTT
adjoints (dL/dh_t, and dL/dc_t for the LSTM), beside the theory where there is one and the
float64 reference, compares each curve with the reference and classifies it. Cells side by
side at the same alpha answer whether gates keep the gradient alive.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rnnbench import decay
from rnnbench.cells import CELL_NAMES, get_cell
from rnnbench.commands import options
from rnnbench.commands.session import Tables, output_options, run_session, settings_record
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

NAME = "decay"
SUMMARY = (
    "Gradient-decay curves ||dL/dh_(T-k)|| / ||dL/dh_T|| (and dL/dc for the LSTM) against k "
    "per backend, cell, activation and alpha (recurrent weights alpha * Q), beside theory "
    "(alpha^k for the identity, Pascanu's bound (gamma*alpha)^k for the elman cell), with "
    "fitted rates, a vanishing/stable/exploding verdict, over/underflow points and agreement "
    "with the float64 reference."
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
        help=f"problem size (default: {defaults.size.label})",
    )
    parser.add_argument(
        "--cell",
        action="append",
        choices=CELL_NAMES,
        help="cell, repeatable, side by side (default: elman); gated cells use tanh only",
    )
    parser.add_argument(
        "--gate-bias",
        type=float,
        default=defaults.gate_bias,
        help="added to the LSTM forget-gate and GRU update-gate biases (default: "
        f"{defaults.gate_bias:g}, the usual forget-gate bias)",
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
        cells=tuple(dict.fromkeys(args.cell or defaults.cells)),
        gate_bias=args.gate_bias,
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
        **output_options(args),
    )
    print(text_table(finished.tables["decay_summary"], DECAY_SUMMARY_COLUMNS))
    print(f"results: {finished.folder}")
    return finished.exit_code()


def check_settings(settings: DecaySettings) -> None:
    """InputError, before anything runs, if a problem of the study is invalid or its size
    does not fit in this machine's memory."""
    check_fits(settings.size, settings.dtype, available_memory_bytes())
    for cell, activation in settings.families():
        for alpha in settings.alphas:
            settings.problem(activation, alpha, cell)


def task_count(settings: DecaySettings, n_backends: int) -> int:
    """The progress tasks of ``decay_study``: the reference and each backend, per curve."""
    return len(settings.families()) * len(settings.alphas) * (1 + n_backends)


def decay_study(
    backends: Mapping[str, Backend],
    settings: DecaySettings,
    progress: Progress,
    runner: BackendRunner | None = None,
) -> Tables:
    """The study's tables for ``backends`` (runnable, by name): "decay_curves" (source,
    cell, state, activation, alpha, k, ratio, valid), "decay_summary" (one row per curve)
    and "status" (a row per backend and curve that was skipped, failed or disagrees), with
    the theory and the float64 reference as two more sources. ``state`` is "h" (dL/dh_t)
    or, for the LSTM's second curve, "c" (dL/dc_t). Backends are called through
    ``runner`` (default: one without a time limit)."""
    runner = runner or BackendRunner()
    curves: list[Row] = []
    summary: list[Row] = []
    status: list[Row] = []
    T = settings.size.T
    allowed = tolerance(settings.dtype, T)
    for cell, activation in settings.families():
        states = get_cell(cell).state
        for alpha in settings.alphas:
            data = make_data(settings.problem(activation, alpha, cell))
            task = f"decay {cell} {activation} alpha={alpha:g}"
            progress.show(f"{task}: float64 reference")
            with np.errstate(all="ignore"):
                reference_grads_ = reference_grads(data)
            references = {s: decay.decay_curve(reference_grads_[f"{s}s"]) for s in states}
            theory = _theory(activation, alpha, data.W_hh, T) if cell == "elman" else None
            for state, reference in references.items():
                key = {"cell": cell, "state": state, "activation": activation, "alpha": alpha}
                theory_columns = {"theory_rate": None, "theory": "none (gated cell)"}
                if theory is not None:
                    curves += _curve_rows(THEORY, key, theory[0], np.ones(T, bool))
                    theory_columns = {"theory_rate": theory[1], "theory": theory[2]}
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
                try:
                    curves_of = functools.partial(backend_decay_curves, data=data)
                    measured = runner.run(name, backend, curves_of)
                except Exception as exc:
                    status.append(status_row(name, task, *failure(exc)))
                    progress.advance()
                    continue
                for state, reference in references.items():
                    key = {"cell": cell, "state": state, "activation": activation, "alpha": alpha}
                    if state not in measured:
                        reason = f"{name} declares that it cannot give dL/d{state} for {cell}"
                        status.append(status_row(name, f"{task} dL/d{state}", "skipped", reason))
                        continue
                    curve = measured[state].curve
                    curves += _curve_rows(name, key, curve.ratios, curve.valid)
                    error, compared = curve_error(measured[state], reference)
                    agrees = bool(error <= allowed)
                    summary.append(
                        {
                            "source": name,
                            **key,
                            **_curve_columns(curve, settings.dtype),
                            "theory_rate": theory[1] if theory is not None else None,
                            "theory": theory[2] if theory is not None else "none (gated cell)",
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


def _theory(
    activation: str, alpha: float, W_hh: np.ndarray, T: int
) -> tuple[np.ndarray, float, str]:
    """The theory beside an elman curve of W_hh (H, H) = alpha * Q: its ratios (T,) from
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


def backend_decay_curves(backend: Backend, data: ProblemData) -> dict[str, MeasuredCurve]:
    """The decay curves of one backend's BPTT adjoints (T, B, H) by state part ("h", and
    "c" for the LSTM), leaving out the adjoints it declares missing; overflow propagates as
    inf."""
    i = backend.load(data)
    with np.errstate(all="ignore"):
        grads = backend.bptt(
            i.params, i.xs, i.h0, i.dhs, activation=data.problem.activation, **i.state0
        )
        curves = {}
        for state in get_cell(data.problem.cell).state:
            if f"{state}s" in grads:
                adjoints = backend.to_numpy(grads[f"{state}s"])
                curve = decay.decay_curve(adjoints)
                curves[state] = MeasuredCurve(curve, curve.valid & far_from_subnormal(adjoints))
    return curves


def backend_decay_curve(backend: Backend, data: ProblemData) -> MeasuredCurve:
    """The decay curve of one backend's dL/dh adjoints (T, B, H)."""
    return backend_decay_curves(backend, data)["h"]


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
