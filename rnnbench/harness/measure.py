"""One backend on one problem, as `rnnbench run` measures it: speed rows (forward and BPTT),
agreement rows (every output against the float64 reference) and a memory row; and the
harness's own overhead against a bare timing loop."""

from __future__ import annotations

import numpy as np

from rnnbench.cells import bptt_flops, forward_flops
from rnnbench.harness import memory, timing
from rnnbench.interface import Backend
from rnnbench.presets import Size
from rnnbench.problems import ProblemData, make_data
from rnnbench.reference import ReferenceOutputs
from rnnbench.registry import get_backend
from rnnbench.report.tables import Row
from rnnbench.tolerances import normwise_error, tolerance


def size_columns(size: Size, dtype: str) -> Row:
    """The columns that name a size and dtype in every table."""
    return {"size": size.label, "T": size.T, "B": size.B, "D": size.D, "H": size.H, "dtype": dtype}


def measure_backend(
    name: str,
    backend: Backend,
    data: ProblemData,
    reference: ReferenceOutputs,
    rate: timing.GemmRate,
    *,
    repeats: int,
    warmup: int,
    budget_s: float | None,
) -> dict[str, list[Row]]:
    """Speed, agreement and memory rows of one backend on one problem; ``repeats``, ``warmup``
    and ``budget_s`` as in ``timing.measure_speed``."""
    problem = data.problem
    size = Size(problem.T, problem.B, problem.D, problem.H, problem.cell)
    base = {"backend": name, **size_columns(size, problem.dtype)}
    inputs = backend.load(data)
    speed = timing.measure_speed(
        backend,
        inputs,
        activation=problem.activation,
        repeats=repeats,
        warmup=warmup,
        budget_s=budget_s,
    )
    speed_rows = []
    for phase, stats, first, flops in (
        ("forward", speed.forward, speed.first_forward_s, forward_flops(size)),
        ("bptt", speed.bptt, speed.first_bptt_s, bptt_flops(size)),
    ):
        gflops = flops / stats.median / 1e9
        speed_rows.append(
            {
                **base,
                "activation": problem.activation,
                "phase": phase,
                "repeats": len(stats.samples),
                "median_s": stats.median,
                "q25_s": stats.q25,
                "q75_s": stats.q75,
                "min_s": min(stats.samples),
                "max_s": max(stats.samples),
                "spread": stats.spread,
                "first_call_s": first,
                "compile_s": speed.compile_s,
                "warm_up_wall_s": speed.warm_up_wall_s,
                "steps_per_s": size.T / stats.median,
                "gflops": gflops,
                "gemm_gflops": rate.gflops,
                "pct_of_gemm": 100 * gflops / rate.gflops,
            }
        )
    forward, bptt = timing.backend_calls(backend, inputs, problem.activation)
    with np.errstate(all="ignore"):
        peak, grads = memory.peak_memory(bptt, backend.synchronize, inputs.xs)
        outputs = {
            "unroll": backend.to_numpy(forward()),
            **dict(backend.grads_to_numpy(grads).items()),
        }
    del grads
    allowed = tolerance(problem.dtype, problem.T)
    agreement_rows = []
    for quantity, expected in reference.outputs.items():
        if quantity not in outputs:  # an adjoint the backend declares missing
            continue
        error = normwise_error(outputs[quantity], expected, reference.scales[quantity])
        agreement_rows.append(
            {
                **base,
                "quantity": quantity,
                "error": error,
                "tolerance": allowed,
                "passed": error <= allowed,
            }
        )
    bound = size.activation_bytes(problem.dtype)
    memory_row = {
        **base,
        "peak_bytes": peak.peak_bytes,
        "bound_bytes": bound,
        "ratio_to_bound": None if peak.peak_bytes is None else peak.peak_bytes / bound,
        "method": peak.method,
        "note": peak.reason or memory.MEMORY_METHODS[peak.method],
    }
    return {"speed": speed_rows, "agreement": agreement_rows, "memory": [memory_row]}


#: the size at which the harness's overhead is measured against a bare timing loop
OVERHEAD_SIZE = Size(1000, 1, 64, 64)


def measure_overhead() -> Row:
    """time_calls against a bare timing loop, numpy BPTT at OVERHEAD_SIZE (float32, tanh):
    the harness's and the bare loop's seconds per call, the fraction between them, and the
    harness's fixed cost per call."""
    backend = get_backend("numpy")
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
