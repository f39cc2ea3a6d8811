"""Each command's run folder: its CSV tables, JSON record, plots and report.md page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rnnbench.report.plots import plot_decay, plot_speed, plot_training
from rnnbench.report.tables import (
    DECAY_SUMMARY_COLUMNS,
    REFERENCE,
    RUN_SUMMARY_COLUMNS,
    TRAIN_OUTCOME_COLUMNS,
    Row,
    markdown_table,
    run_summary,
    worst_agreement,
    write_csv,
    write_json,
)


def write_run(folder: Path, record: Row, tables: dict[str, list[Row]]) -> None:
    """Everything `rnnbench run` writes: a CSV per table, run.json, report.md, the plots."""
    for name, rows in tables.items():
        write_csv(folder / f"{name}.csv", rows)
    write_json(folder / "run.json", record)
    if tables["speed"]:
        plot_speed(tables["speed"], folder / "speed.png")
    if tables.get("decay_curves"):
        plot_decay(tables["decay_curves"], tables["decay_summary"], folder / "decay.png")
    (folder / "report.md").write_text(run_markdown(record, tables))


def write_decay(folder: Path, record: Row, tables: dict[str, list[Row]]) -> None:
    """Everything `rnnbench decay` writes."""
    for name, rows in tables.items():
        write_csv(folder / f"{name}.csv", rows)
    write_json(folder / "decay.json", record)
    if tables["decay_curves"]:
        plot_decay(tables["decay_curves"], tables["decay_summary"], folder / "decay.png")
    text = [
        f"# rnnbench decay\n\n{_settings_line(record)}\n",
        decay_markdown(tables),
        _status_markdown(tables["status"]),
        _machine_markdown(record["machine"]),
    ]
    (folder / "report.md").write_text("\n".join(t for t in text if t))


def write_train(folder: Path, record: Row, tables: dict[str, list[Row]]) -> None:
    """Everything `rnnbench train` writes."""
    for name, rows in tables.items():
        write_csv(folder / f"{name}.csv", rows)
    write_json(folder / "train.json", record)
    if tables["train_outcomes"]:
        plot_training(tables["train_losses"], tables["train_outcomes"], folder / "train.png")
    shows = {r["scenario"]: r["shows"] for r in tables["train_outcomes"]}
    text = [
        "# rnnbench train\n",
        f"SGD for {record['steps']} steps per run on a long-range task; every backend starts "
        "from the same weights and sees the same batches. The baseline loss "
        f"{tables['train_outcomes'][0]['baseline'] if tables['train_outcomes'] else 0.5} is "
        "that of predicting the mean.\n",
        "![training loss](train.png)\n",
        "\n".join(f"- **{name}**: {text}" for name, text in shows.items()) + "\n",
        markdown_table(tables["train_outcomes"], TRAIN_OUTCOME_COLUMNS) + "\n",
        _status_markdown(tables["status"]),
        _machine_markdown(record["machine"]),
    ]
    (folder / "report.md").write_text("\n".join(t for t in text if t))


def _settings_line(record: Row) -> str:
    settings = record.get("settings") or {}
    parts = ", ".join(f"{k} = {v}" for k, v in settings.items())
    return f"Settings: {parts}. Wall time {record['wall_time_s']:.1f} s."


def run_markdown(record: Row, tables: dict[str, list[Row]]) -> str:
    """report.md of `rnnbench run`."""
    overhead = record["harness_overhead"]
    summary = run_summary(tables)
    parts = [
        f"# rnnbench run (preset {record['preset']})\n",
        _settings_line(record),
        f"Harness overhead against a bare timing loop: {overhead['fraction'] * 100:+.2f} % "
        f"(median {overhead['harness_s'] * 1e3:.3f} ms vs {overhead['bare_s'] * 1e3:.3f} ms "
        f"per numpy BPTT call at {overhead['size']}, interleaved; the difference is mostly "
        f"machine noise). The harness's own fixed cost per timed call, measured on an empty "
        f"call: {overhead['fixed_s'] * 1e6:.2f} us, {overhead['fixed_fraction'] * 100:.4f} % "
        f"of that BPTT call.\n",
        "## Summary\n",
        markdown_table(summary, RUN_SUMMARY_COLUMNS) + "\n",
        "fwd/bptt ms: median wall time per call (bptt = forward + BPTT). GFLOP/s counts "
        "2*T*B*(D*H + H*H) for the forward pass and three times that for forward + BPTT. "
        "% GEMM: that rate over this machine's NumPy matmul rate at the same shapes (T "
        "products (B,H)@(H,H) plus one (T*B,D)@(D,H), measured in this run; gemm.csv), so "
        "100 % is what a loop of bare GEMMs reaches. first bptt s: the first call after "
        "warm_up; compile s: what warm_up reported. worst err: the largest normwise error "
        "over the forward states and every gradient against the float64 reference; "
        "tolerance: 64 * eps(dtype) * sqrt(T). x bound: peak memory over the activation "
        "storage bound T*B*H*itemsize.\n",
        "% GEMM above 100 means the backend beat NumPy's matmul loop at these shapes (at tiny "
        "shapes NumPy's per-call overhead dominates) or the GEMM reference was slowed by other "
        "load; on a shared machine pin BLAS threads (OPENBLAS_NUM_THREADS=1, "
        "OMP_NUM_THREADS=1).\n",
    ]
    if tables["speed"]:
        parts += [
            "## Speed\n",
            "![time per call](speed.png)\n",
            markdown_table(
                tables["speed"],
                [
                    "backend",
                    "size",
                    "phase",
                    "median_s",
                    "q25_s",
                    "q75_s",
                    "spread",
                    "first_call_s",
                    "compile_s",
                    "steps_per_s",
                    "gflops",
                    "pct_of_gemm",
                ],
            )
            + "\n",
            "GEMM reference rates:\n",
            markdown_table(
                tables["gemm"], ["size", "dtype", "recurrent_s", "projection_s", "gflops"]
            )
            + "\n",
        ]
    if tables["agreement"]:
        failing = [r for r in tables["agreement"] if not r["passed"]]
        verdict = (
            "Every backend agrees with the float64 reference within tolerance at every size."
            if not failing
            else f"{len(failing)} quantities exceed the tolerance (see agreement.csv)."
        )
        parts += [
            "## Agreement with the float64 reference\n",
            verdict + "\n",
            markdown_table(
                failing or list(worst_agreement(tables["agreement"]).values()),
                ["backend", "size", "quantity", "error", "tolerance", "passed"],
            )
            + "\n",
        ]
    if tables["memory"]:
        methods = {r["method"]: r["note"] for r in tables["memory"]}
        rows = [
            {
                **r,
                "peak_MiB": None if r["peak_bytes"] is None else r["peak_bytes"] / 2**20,
                "bound_MiB": r["bound_bytes"] / 2**20,
                "remark": _memory_remark(r),
            }
            for r in tables["memory"]
        ]
        columns = ["backend", "size", "peak_MiB", "bound_MiB", "ratio_to_bound", "method"]
        parts += [
            "## Peak memory of BPTT\n",
            "Peak memory of one forward + BPTT call above what was in use before it, against "
            "the activation-storage bound T*B*H*itemsize that BPTT cannot go below. The "
            "methods measure different things:\n",
            "\n".join(f"- **{m}**: {note}" for m, note in methods.items()) + "\n",
            markdown_table(rows, [*columns, "remark"]) + "\n",
        ]
    if tables.get("decay_curves"):
        parts.append(decay_markdown(tables))
    parts += [_status_markdown(tables["status"]), _machine_markdown(record["machine"])]
    return "\n".join(p for p in parts if p)


def _memory_remark(row: Row) -> str:
    """Why a memory figure needs care: below the bound it cannot be the whole peak."""
    ratio = row.get("ratio_to_bound")
    if ratio is None:
        return row.get("note", "")
    if ratio < 1:
        return "below the bound: undercounted (the allocator reused memory it already held)"
    return ""


def decay_markdown(tables: dict[str, list[Row]]) -> str:
    """The gradient-decay section: plot, how to read it, the per-curve table."""
    summary = tables["decay_summary"]
    backends = [r for r in summary if r["source"] != REFERENCE]
    disagreeing = [r for r in backends if not r["agrees"]]
    if not backends:
        verdict = "No backend produced a curve."
    elif not disagreeing:
        verdict = (
            "Every backend's curve agrees with the float64 reference curve within "
            "the suite's tolerance (worst relative error over the k valid in both, "
            "against 64 * eps(dtype) * sqrt(T))."
        )
    else:
        verdict = "Curves that disagree with the float64 reference: " + "; ".join(
            f"{r['source']} {r.get('cell', 'elman')} dL/d{r.get('state', 'h')} "
            f"{r['activation']} alpha={r['alpha']:g} "
            f"({r['error_vs_reference']:.3g} > {r['tolerance']:.3g})"
            for r in disagreeing
        )
    return "\n".join(
        [
            "## Gradient decay\n",
            "![gradient decay](decay.png)\n",
            "Each curve is ||dL/dh_(T-k)|| / ||dL/dh_T|| (for the LSTM also dL/dc, the "
            "carousel) against k for a loss on the last step only, with recurrent weights "
            "alpha * Q (Q orthogonal, every singular value alpha; one such block per gate). "
            "On the log axis a straight line is geometric decay or growth; its slope is the "
            "fitted rate. Dotted: theory, exactly alpha^k for the identity activation, "
            "Pascanu's upper bound (gamma*alpha)^k for tanh (gamma = 1) and sigmoid "
            "(gamma = 1/4); the gated cells have no closed form at random weights. Thick pale: "
            "the float64 reference. Panels side by side at the same alpha show whether gates "
            "keep the gradient alive (a flatter curve than the elman cell's). A curve ends "
            "with an x where the backend's own dtype overflowed or underflowed; the status "
            "column gives the k.\n",
            verdict + "\n",
            markdown_table(summary, DECAY_SUMMARY_COLUMNS) + "\n",
        ]
    )


def _status_markdown(status: Sequence[Row]) -> str:
    problems = [r for r in status if r["status"] != "ok"]
    if not problems:
        return ""
    return (
        "## Skipped and failed\n\n"
        + markdown_table(problems, ["backend", "task", "status", "message"])
        + "\n"
    )


def _machine_markdown(info: Row) -> str:
    blas = info.get("blas", {})
    versions = ", ".join(
        f"{k} {v}" for k, v in info.get("versions", {}).items() if v != "not installed"
    )
    threads = ", ".join(f"{k}={v}" for k, v in info.get("threads", {}).items() if v is not None)
    return "\n".join(
        [
            "## Machine\n",
            f"- CPU: {info.get('cpu')}; {info.get('usable_cores')} usable of "
            f"{info.get('logical_cores')} logical cores",
            f"- BLAS: {blas.get('name')} {blas.get('version', '')}",
            f"- threads: {threads or 'library defaults'}",
            f"- {info.get('platform')}, Python {info.get('python')}",
            f"- versions: {versions}\n",
        ]
    )
