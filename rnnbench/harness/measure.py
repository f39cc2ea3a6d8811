"""The rows `rnnbench run` makes of what it measured: speed rows (forward, backward,
forward + BPTT), ratios against a baseline backend, agreement rows (every output against the
float64 reference) and a memory row; and the harness's own overhead against a bare timing
loop.

What the backend returns is checked as the conformance kit does (native type, shape, dtype
and device of every output, ``validation.check_output``), and its inputs must be unchanged
after its calls; either fault raises OutputError, so its timings are never reported."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rnnbench import validation
from rnnbench.cells import bptt_flops, forward_flops, get_cell
from rnnbench.errors import OutputError
from rnnbench.harness import memory, statistics, timing
from rnnbench.interface import Backend, Inputs
from rnnbench.presets import Size
from rnnbench.problems import ProblemData, make_data
from rnnbench.reference import ReferenceBackend, ReferenceOutputs
from rnnbench.report.tables import Row, failure
from rnnbench.tolerances import normwise_error, tolerance


def size_columns(size: Size, dtype: str) -> Row:
    """The columns that name a size and dtype in every table."""
    return {"size": size.label, "T": size.T, "B": size.B, "D": size.D, "H": size.H, "dtype": dtype}


@dataclass(frozen=True)
class BackendOutputs:
    """What one backend computed at one size, as NumPy: ``outputs`` by quantity (as in
    ReferenceOutputs) and the peak memory of the BPTT call that produced the gradients."""

    peak: memory.PeakMemory
    outputs: dict[str, np.ndarray]


def backend_outputs(backend: Backend, inputs: Inputs, data: ProblemData) -> BackendOutputs:
    """Peak memory of one BPTT call (``memory.bptt_peak``), then the forward states
    hs (T, B, H) and every gradient, as NumPy, each checked (``validation.check_output``),
    and the native ``inputs`` checked to still hold ``data``."""
    problem = data.problem
    shapes = output_shapes(data)
    forward, _ = timing.backend_calls(backend, inputs, problem.activation)
    with np.errstate(all="ignore"):
        peak, grads = memory.bptt_peak(backend, inputs, problem.activation)
        validation.check_grads(backend, grads, get_cell(problem.cell), shapes, problem.dtype)
        hs = forward()
        validation.check_output(backend, "unroll", "hs", hs, shapes["unroll"], problem.dtype)
        outputs = {"unroll": backend.to_numpy(hs), **dict(backend.grads_to_numpy(grads).items())}
    del grads, hs
    check_inputs_unchanged(backend, inputs, data)
    return BackendOutputs(peak, outputs)


def output_shapes(data: ProblemData) -> dict[str, tuple[int, ...]]:
    """The shape of every output of a backend on ``data``: "unroll" (T, B, H) and every
    gradient of the problem's cell by its Grads name."""
    cell = get_cell(data.problem.cell)
    T, B, H = data.dhs.shape
    return {
        "unroll": (T, B, H),
        **{name: data.params[name].shape for name in cell.param_names},
        **dict.fromkeys(cell.initial_names, (B, H)),
        "xs": data.xs.shape,
        **dict.fromkeys(cell.adjoint_names, (T, B, H)),
    }


def check_inputs_unchanged(backend: Backend, inputs: Inputs, data: ProblemData) -> None:
    """OutputError naming the first of the backend's native ``inputs`` whose values are no
    longer those of ``data``: the backend changed an argument in place."""
    native = {**inputs.params, "xs": inputs.xs, "h0": inputs.h0, "dhs": inputs.dhs}
    native |= inputs.state0
    expected = data.arrays()
    for name, array in native.items():
        if not np.array_equal(backend.to_numpy(array), expected[name]):
            raise OutputError(f"the backend changed its input {name} in place")


def agreement_rows(
    base: Row, result: BackendOutputs, reference: ReferenceOutputs, dtype: str, T: int
) -> list[Row]:
    """One row per quantity: its normwise error against the float64 reference, the
    tolerance and whether it passed; ``base``: the backend and size columns."""
    allowed = tolerance(dtype, T)
    rows = []
    for quantity, expected in reference.outputs.items():
        if quantity not in result.outputs:  # an adjoint the backend declares missing
            continue
        error = normwise_error(result.outputs[quantity], expected, reference.scales[quantity])
        rows.append(
            {
                **base,
                "quantity": quantity,
                "error": error,
                "tolerance": allowed,
                "passed": error <= allowed,
            }
        )
    return rows


def memory_row(base: Row, peak: memory.PeakMemory, size: Size, dtype: str) -> Row:
    """The memory row: peak bytes of one BPTT call against the activation-storage bound."""
    bound = size.activation_bytes(dtype)
    return {
        **base,
        "peak_bytes": peak.peak_bytes,
        "bound_bytes": bound,
        "ratio_to_bound": None if peak.peak_bytes is None else peak.peak_bytes / bound,
        "method": peak.method,
        "note": peak.reason or memory.MEMORY_METHODS[peak.method],
    }


#: the phases of a speed table: forward (unroll), backward (BPTT minus forward, per round)
#: and bptt (forward + BPTT, one call of ``Backend.bptt``)
SPEED_PHASES = ("forward", "backward", "bptt")


Samples = dict[str, list[float | None]]


def phase_samples(forward: Sequence[float | None], bptt: Sequence[float | None]) -> Samples:
    """Per phase of SPEED_PHASES, the seconds of every round (None where the phase was not
    timed): backward is bptt minus forward of the same round, where both were timed."""
    return {
        "forward": list(forward),
        "backward": [
            None if f is None or b is None else b - f for f, b in zip(forward, bptt, strict=True)
        ],
        "bptt": list(bptt),
    }


def speed_rows(
    base: Row,
    size: Size,
    prepared: timing.Prepared,
    samples: Samples,
    rate: timing.GemmRate,
) -> list[Row]:
    """A row per phase with samples: the median, quartiles, extremes and spread of its
    timed calls, its first call and compile time, steps per second and GFLOP/s against the
    GEMM rate. ``samples``: per phase, seconds by round (``phase_samples``)."""
    flops = {
        "forward": forward_flops(size),
        "backward": bptt_flops(size) - forward_flops(size),
        "bptt": bptt_flops(size),
    }
    first = {
        "forward": prepared.first_forward_s,
        "backward": prepared.first_bptt_s - prepared.first_forward_s,
        "bptt": prepared.first_bptt_s,
    }
    rows = []
    for phase in SPEED_PHASES:
        timed = tuple(s for s in samples[phase] if s is not None)
        if not timed:
            continue
        stats = timing.TimingStats(timed)
        median = stats.median
        gflops = flops[phase] / median / 1e9 if median > 0 else None
        rows.append(
            {
                **base,
                "phase": phase,
                "repeats": len(stats.samples),
                "median_s": median,
                "q25_s": stats.q25,
                "q75_s": stats.q75,
                "min_s": min(stats.samples),
                "max_s": max(stats.samples),
                "spread": stats.spread,
                "first_call_s": first[phase],
                "compile_s": prepared.compile_s,
                "warm_up_wall_s": prepared.warm_up_wall_s,
                "steps_per_s": size.T / median if median > 0 else None,
                "gflops": gflops,
                "gemm_gflops": rate.gflops,
                "pct_of_gemm": None if gflops is None else 100 * gflops / rate.gflops,
            }
        )
    return rows


def ratio_rows(base: Row, samples: Samples, baseline: str, baseline_samples: Samples) -> list[Row]:
    """Per phase, the backend's time over the baseline's (``statistics.paired_ratio`` of the
    per-round pairs) with its confidence interval. ``samples`` and ``baseline_samples``:
    per phase, seconds by round (``phase_samples``). A phase gets no row with fewer than
    MIN_PAIRS rounds that timed both, or when a round's time is not > 0 (a backward phase,
    bptt minus forward, too small to split from the noise: leaving such rounds out would
    bias the ratio)."""
    rows = []
    for phase in SPEED_PHASES:
        pairs = [
            (a, b)
            for a, b in zip(samples[phase], baseline_samples[phase], strict=True)
            if a is not None and b is not None
        ]
        if len(pairs) < MIN_PAIRS or any(a <= 0 or b <= 0 for a, b in pairs):
            continue
        ratio = statistics.paired_ratio([a for a, _ in pairs], [b for _, b in pairs])
        rows.append(
            {
                **base,
                "phase": phase,
                "baseline": baseline,
                "ratio": ratio.ratio,
                "ci_low": ratio.low,
                "ci_high": ratio.high,
                "pairs": ratio.n,
                "interval": "median of per-round ratios; " + statistics.METHOD,
            }
        )
    return rows


#: the fewest per-round pairs a ratio is computed from
MIN_PAIRS = 3


def check_backend(
    outputs: Callable[[], BackendOutputs],
    base: Row,
    size: Size,
    dtype: str,
    reference: ReferenceOutputs,
    tables: dict[str, list[Row]],
) -> tuple[str, str]:
    """Agreement and memory rows of one backend (appended to ``tables``) from what
    ``outputs`` returns (a Runner's), and its status: "ok", "disagrees" (an output misses the
    tolerance) or what ``failure`` makes of an exception."""
    try:
        result = outputs()
    except Exception as exc:
        return failure(exc)
    rows = agreement_rows(base, result, reference, dtype, size.T)
    tables["agreement"] += rows
    tables["memory"].append(memory_row(base, result.peak, size, dtype))
    failed = [r for r in rows if not r["passed"]]  # a NaN error fails too
    if not failed:
        return "ok", ""
    worst = max(failed, key=_excess)
    return "disagrees", (
        f"{worst['quantity']} error {worst['error']:.3g} > tolerance {worst['tolerance']:.3g}"
    )


def _excess(row: Row) -> float:
    """How far an agreement row's error is past its tolerance (inf for a NaN error)."""
    ratio = row["error"] / row["tolerance"]
    return ratio if ratio == ratio else float("inf")


def sample_rows(rounds: timing.Rounds, base_of: Mapping[str, Row], activation: str) -> list[Row]:
    """Every timed call: backend and size columns, phase, round, its position in that
    round's shuffled order and its seconds."""
    rows = []
    for r, order in enumerate(rounds.order):
        for position, (name, phase) in enumerate(order):
            seconds = rounds.samples[(name, phase)][r]
            rows.append(
                {
                    **base_of[name],
                    "activation": activation,
                    "phase": phase,
                    "round": r,
                    "position": position,
                    "seconds": seconds,
                }
            )
    return rows


#: the size at which the harness's overhead is measured against a bare timing loop
OVERHEAD_SIZE = Size(1000, 1, 64, 64)


def measure_overhead() -> Row:
    """The harness's timing path against a bare timing loop, numpy BPTT at OVERHEAD_SIZE
    (float32, tanh): the harness's and the bare loop's seconds per call, the fraction between
    them, and the harness's fixed cost per call."""
    backend = ReferenceBackend()  # the core's own NumPy code, whatever "numpy" names
    inputs = backend.load(make_data(OVERHEAD_SIZE.problem(dtype="float32")))
    _, bptt = timing.backend_calls(backend, inputs, "tanh")
    overhead = timing.harness_overhead(bptt, backend.synchronize)
    return {
        "harness_s": overhead.harness_s,
        "bare_s": overhead.bare_s,
        "fraction": overhead.fraction,
        "fixed_s": overhead.fixed_s,
        "fixed_fraction": overhead.fixed_fraction,
        "size": OVERHEAD_SIZE.label,
    }
