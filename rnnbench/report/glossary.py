"""What every column of rnnbench's outputs means, written once.

``GLOSSARY`` maps each column name of the CSV tables that ``rnnbench run``, ``decay`` and
``train`` write, of the tables in their ``report.md`` and of ``rnnbench backends`` to a
one-line meaning. ``render_markdown`` turns it into the Markdown table that
``docs/commands.md`` holds (``tests/test_docs.py`` checks that the two match and that every
column the commands write is here). Print the table with ``python -m rnnbench.report.glossary``.
"""

from __future__ import annotations

from collections.abc import Iterable

GLOSSARY: dict[str, str] = {
    # what was measured
    "backend": "backend name, as registered (or `module:Class`)",
    "size": "the size label `T=.. B=.. D=.. H=..`",
    "T": "sequence length (steps)",
    "B": "batch size",
    "D": "input width",
    "H": "hidden width",
    "dtype": "precision of the run; in decay_summary.csv the curve's (float64 for the reference)",
    "activation": "cell activation f: tanh, relu, sigmoid or identity (gated cells: tanh)",
    "cell": "the recurrent cell: elman, lstm or gru (docs/cells.md)",
    "state": "decay tables: the state part whose adjoint the curve is, h (dL/dh_t) or c (the "
    "LSTM's dL/dc_t)",
    "gate_bias": "added to the LSTM forget-gate or GRU update-gate bias",
    "cells": "the cells a backend declares",
    # speed.csv
    "phase": "`forward` (one `unroll` call), `bptt` (one `bptt` call: forward + BPTT) or "
    "`backward` (bptt minus forward of the same round)",
    "device": "where the backend ran: `cpu` or `cuda` (`--device`)",
    "repeats": "timed calls of the phase, one per round (fewer than `--repeats` when "
    "`--max-time` ran out, never fewer than 3)",
    # samples.csv
    "round": "samples.csv: the timed round, from 0; each round times every backend and phase "
    "once, in a fresh random order",
    "position": "samples.csv: the call's place in its round's shuffled order, from 0",
    "seconds": "samples.csv: seconds of one timed call",
    # ratios.csv
    "ci_low": "ratios.csv: lower end of the ratio's 95 % bootstrap interval",
    "ci_high": "ratios.csv: upper end of the ratio's 95 % bootstrap interval",
    "pairs": "ratios.csv: rounds that timed both the backend and the baseline",
    "interval": "ratios.csv: how the ratio and its interval were computed",
    "median_s": "median seconds per call",
    "q25_s": "first quartile of the seconds per call",
    "q75_s": "third quartile of the seconds per call",
    "min_s": "fastest call, seconds",
    "max_s": "slowest call, seconds",
    "spread": "(q75_s - q25_s) / median_s",
    "first_call_s": "seconds of the first call after `warm_up`, timed on its own",
    "compile_s": "seconds `warm_up` reported spending on compilation (0 for eager backends)",
    "warm_up_wall_s": "wall seconds of the `warm_up` call",
    "steps_per_s": "T / median_s",
    "gflops": "speed.csv: the phase's FLOP count / median_s / 1e9; gemm.csv: the forward FLOP "
    "count over T * recurrent_s + projection_s",
    "gemm_gflops": "gemm.csv's `gflops` at the same size: the rate of bare NumPy GEMMs",
    "pct_of_gemm": "100 * gflops / gemm_gflops",
    # gemm.csv
    "recurrent_s": "best seconds of one recurrent product (B, H) @ (H, H) in NumPy",
    "projection_s": "best seconds of the input projection (T*B, D) @ (D, H) in NumPy",
    # agreement.csv
    "quantity": "`unroll` (the forward states hs) or a gradient: W_xh, W_hh, b, h0, xs, hs "
    "(the per-step adjoints)",
    "error": "normwise error against the float64 reference (docs/contract.md)",
    "tolerance": "the error allowed: 64 * eps(dtype) * sqrt(T)",
    "passed": "error <= tolerance",
    # memory.csv
    "peak_bytes": "peak bytes of one BPTT call above what was in use before it (empty: not "
    "measurable)",
    "bound_bytes": "T*B*H*itemsize: the hidden states BPTT must keep, its memory lower bound",
    "ratio_to_bound": "peak_bytes / bound_bytes (below 1: an undercount)",
    "method": "how the peak was measured: `tracemalloc`, `rss-hwm`, `xla-memory-analysis`, "
    "`torch-cuda` or `n/a`",
    "note": "what the method measures, or why memory is not measurable",
    "peak_MiB": "report.md: peak_bytes in MiB",
    "bound_MiB": "report.md: bound_bytes in MiB",
    "remark": "report.md: why a memory figure needs care (below the bound: undercounted)",
    # status.csv
    "task": "status.csv: a size label, `decay <activation> alpha=<a>` or `train <scenario>` "
    "(empty: the backend could not be constructed); train_outcomes.csv: `recall` or `adding`",
    "status": "status.csv: `ok`, `skipped`, `failed` or `disagrees`; decay_summary.csv: `ok`, "
    "`overflowed at k = N` or `underflowed at k = N`",
    "message": "the error or reason, one line (empty when ok)",
    # decay_curves.csv
    "source": "`theory`, `float64 reference` or a backend name",
    "alpha": "scale of the recurrent weights, W_hh = alpha * Q with Q orthogonal",
    "k": "steps back from the last step T",
    "ratio": "decay_curves.csv: ||dL/dh_(T-k)|| / ||dL/dh_T||; ratios.csv: the backend's time "
    "over the baseline's, the median of the per-round ratios",
    "valid": "the ratio is finite, positive and measured before the adjoint left the dtype's "
    "normal range",
    # decay_summary.csv
    "overflow_k": "first k at which the adjoint overflowed its dtype (empty: never)",
    "underflow_k": "first k at which the adjoint underflowed its dtype (empty: never)",
    "last_valid_k": "largest valid k",
    "fitted_rate": "per-step factor r of the least-squares fit log ratio = k log r over the "
    "valid k",
    "verdict": "`vanishing` (fitted_rate < 0.98), `stable`, `exploding` (> 1.02) or `undetermined`",
    "theory_rate": "per-step factor of the theory: alpha (identity) or gamma * s (Pascanu)",
    "theory": "`exact alpha^k` (identity) or `Pascanu bound (gamma*s)^k` (others)",
    "error_vs_reference": "worst relative error of the ratio against the float64 reference "
    "over the compared k",
    "compared_k": "how many k were compared (valid in both, adjoint above tiny/eps)",
    "agrees": "error_vs_reference <= tolerance",
    # train_losses.csv
    "scenario": "training scenario: short-lag, long-lag, exploding or exploding-clipped",
    "step": "SGD step, from 0",
    "loss": "loss of the step's batch, 0.5 * mean((y - target)^2)",
    "grad_norm": "global norm of the gradient before clipping (NaN after a divergence)",
    # train_outcomes.csv
    "shows": "what the scenario demonstrates",
    "outcome": "`learned`, `partly learned` or `stalled` (with the final loss), or "
    "`diverged at step N`",
    "diverged_at": "first step whose loss or gradient was not finite (empty: none)",
    "final_loss": "mean loss over the last tenth of the steps",
    "baseline": "train_outcomes.csv: loss of predicting the mean, 0.5; ratios.csv: the backend "
    "the times are set against (`--baseline`)",
    "lag": "sequence length T of the task",
    "batch": "batch size",
    "hidden": "hidden width H",
    "init": "initial W_hh: `orthogonal` (alpha * Q) or `gaussian` (N(0, alpha^2/H))",
    "lr": "SGD learning rate",
    "clip": "global-norm clipping bound (empty: no clipping)",
    "truncate": "truncated-BPTT window k (empty: full BPTT)",
    "seed": "seed of the data and the initial weights",
    # run summary (report.md and the terminal)
    "fwd ms": "median_s of the forward phase, in ms",
    "bwd ms": "median_s of the backward phase (forward + BPTT minus forward, per round), in ms",
    "bptt x base": "ratio of the bptt phase against the baseline with its 95 % interval "
    "`[ci_low, ci_high]` (ratios.csv), or `baseline`",
    "bptt ms": "median_s of the bptt phase (forward + BPTT), in ms",
    "bptt GFLOP/s": "gflops of the bptt phase",
    "% GEMM": "pct_of_gemm of the bptt phase",
    "first bptt s": "first_call_s of the bptt phase",
    "compile s": "compile_s",
    "worst err": "the largest error over the quantities of agreement.csv at this size",
    "peak MiB": "peak_bytes in MiB",
    "x bound": "ratio_to_bound",
    # rnnbench backends
    "available": "the backend can be constructed here (its framework and device are present)",
    "version": "version of the backend's framework",
    "dtypes": "the dtypes the backend declares",
    "activations": "the activations the backend declares",
    "devices": "the devices the backend declares",
    "truncation": "the backend supports truncated BPTT",
    "target": "where the class is: `module:Class`",
    "reason": "why the backend is unavailable",
    "warning": "two installed plugins claim the backend's name (asking for it by that name fails)",
}


def render_markdown(columns: Iterable[str] | None = None) -> str:
    """The glossary (or its entries for ``columns``, in that order) as a Markdown table."""
    names = GLOSSARY if columns is None else columns
    lines = ["| column | meaning |", "|---|---|"]
    for name in names:
        meaning = GLOSSARY[name].replace("|", r"\|")
        lines.append(f"| `{name}` | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
