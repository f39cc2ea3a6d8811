"""Each command's run folder: its CSV tables, JSON record, plots and report.md page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rnnbench.report.glossary import render_markdown
from rnnbench.report.plots import plot_decay, plot_ratios, plot_speed, plot_training
from rnnbench.report.tables import (
    DECAY_SUMMARY_COLUMNS,
    REFERENCE,
    RUN_SUMMARY_COLUMNS,
    TRAIN_OUTCOME_COLUMNS,
    Row,
    markdown_table,
    ratio_note,
    run_summary,
    worst_agreement,
    write_csv,
    write_json,
    write_text,
)

#: the columns of speed.csv, agreement.csv and memory.csv that the summary's columns are made of
SUMMARY_SOURCES = (
    "median_s",
    "gflops",
    "pct_of_gemm",
    "first_call_s",
    "compile_s",
    "error",
    "tolerance",
    "peak_bytes",
    "ratio_to_bound",
)


def write_run(folder: Path, record: Row, tables: dict[str, list[Row]]) -> None:
    """Everything `rnnbench run` writes: a CSV per table, run.json, report.md, the plots."""
    write_data(folder, "run", record, tables)
    if tables["speed"] and _drawn(record):
        plot_speed(tables["speed"], folder / "speed.png")
    if tables.get("decay_curves") and _drawn(record):
        plot_decay(tables["decay_curves"], tables["decay_summary"], folder / "decay.png")
    write_text(folder / "report.md", run_markdown(record, tables))


def write_data(folder: Path, command: str, record: Row, tables: dict[str, list[Row]]) -> None:
    """A CSV per table and the command's JSON record (``<command>.json``)."""
    for name, rows in tables.items():
        write_csv(folder / f"{name}.csv", rows)
    write_json(folder / f"{command}.json", record)


def write_decay(folder: Path, record: Row, tables: dict[str, list[Row]]) -> None:
    """Everything `rnnbench decay` writes."""
    write_data(folder, "decay", record, tables)
    if tables["decay_curves"] and _drawn(record):
        plot_decay(tables["decay_curves"], tables["decay_summary"], folder / "decay.png")
    text = [
        f"# rnnbench decay\n\n{_settings_line(record)}\n",
        decay_markdown(tables, record),
        _status_markdown(tables["status"]),
        _machine_markdown(record["machine"]),
    ]
    write_text(folder / "report.md", "\n".join(t for t in text if t))


def write_train(folder: Path, record: Row, tables: dict[str, list[Row]]) -> None:
    """Everything `rnnbench train` writes."""
    write_data(folder, "train", record, tables)
    if tables["train_outcomes"] and _drawn(record):
        plot_training(tables["train_losses"], tables["train_outcomes"], folder / "train.png")
    shows = {r["scenario"]: r["shows"] for r in tables["train_outcomes"]}
    text = [
        "# rnnbench train\n",
        f"SGD for {record['steps']} steps per run on a long-range task; every backend starts "
        "from the same weights and sees the same batches. The baseline loss "
        f"{tables['train_outcomes'][0]['baseline'] if tables['train_outcomes'] else 0.5} is "
        "that of predicting the mean.\n",
        _image(record, "training loss", "train.png"),
        "\n".join(f"- **{name}**: {text}" for name, text in shows.items()) + "\n",
        markdown_table(tables["train_outcomes"], TRAIN_OUTCOME_COLUMNS) + "\n",
        _status_markdown(tables["status"]),
        _machine_markdown(record["machine"]),
    ]
    write_text(folder / "report.md", "\n".join(t for t in text if t))


#: the columns of `rnnbench compare`'s tables
COMPARE_COLUMNS = [
    "run",
    "backend",
    "size",
    "dtype",
    "phase",
    "old_ms",
    "new_ms",
    "ratio",
    "ci_low",
    "ci_high",
    "verdict",
]


def write_compare(folder: Path, record: Row) -> None:
    """Everything `rnnbench compare` writes: compare.csv, not_compared.csv, compare.json,
    compare.md (fit for a CI job summary) and the plot of the ratios."""
    rows, skipped = record["compared"], record["not_compared"]
    write_csv(folder / "compare.csv", rows, [*COMPARE_COLUMNS, "baseline_run", "samples"])
    write_csv(folder / "not_compared.csv", skipped)
    write_json(folder / "compare.json", record)
    if rows and _drawn(record):
        plot_ratios(rows, record["threshold_pct"] / 100, folder / "compare.png")
    counts = {
        v: sum(r["verdict"] == v for r in rows) for v in dict.fromkeys(r["verdict"] for r in rows)
    }
    text = [
        "# rnnbench compare\n",
        f"Baseline run: {rows[0]['baseline_run'] if rows else record['runs'][0]}. Ratio: the "
        f"later run's median time over the baseline's (above 1 is slower), {record['method']}. "
        f"A row is slower or faster when its interval excludes 1 and the ratio differs from 1 "
        f"by more than {record['threshold_pct']:g} %.\n",
        ", ".join(f"{n} {v}" for v, n in counts.items()) + "\n"
        if counts
        else "Nothing to compare.\n",
        markdown_table(rows, COMPARE_COLUMNS) + "\n" if rows else "",
        _image(record, "ratios", "compare.png") if rows else "",
    ]
    if skipped:
        columns = list(dict.fromkeys(k for r in skipped for k in r))
        text += ["## Not compared\n", markdown_table(skipped, columns) + "\n"]
    (folder / "compare.md").write_text("\n".join(t for t in text if t))


def _drawn(record: Row) -> bool:
    """Whether the command found matplotlib before it measured (see ``plots_unavailable``)."""
    return record.get("plots", "drawn") == "drawn"


def _image(record: Row, alt: str, file: str) -> str:
    """A Markdown image, or the reason it was not drawn."""
    if _drawn(record):
        return f"![{alt}]({file})\n"
    return f"*Plot skipped: {record['plots']}.*\n"


def _settings_line(record: Row) -> str:
    settings = record.get("settings") or {}
    parts = ", ".join(f"{k} = {v}" for k, v in settings.items())
    return f"Settings: {parts}. Wall time {record['wall_time_s']:.1f} s."


def run_markdown(record: Row, tables: dict[str, list[Row]]) -> str:
    """report.md of `rnnbench run`."""
    overhead = record["harness_overhead"]
    baseline = record.get("settings", {}).get("baseline", "numpy")
    summary = run_summary(tables, baseline)
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
        ratio_note(baseline)
        + " Timing: "
        + record["timing"]["scheme"]
        + "; "
        + record["timing"]["isolation"]
        + ". Every timed call is in samples.csv.\n",
        "What the columns mean (and the columns of the tables below they refer to):\n",
        render_markdown(dict.fromkeys([*RUN_SUMMARY_COLUMNS, *SUMMARY_SOURCES])) + "\n",
        "% GEMM above 100 means the backend beat NumPy's matmul loop at these shapes (at tiny "
        "shapes NumPy's per-call overhead dominates) or the GEMM reference was slowed by other "
        "load; on a shared machine pin BLAS threads (OPENBLAS_NUM_THREADS=1, "
        "OMP_NUM_THREADS=1).\n",
    ]
    if tables["speed"]:
        parts += [
            "## Speed\n",
            _image(record, "time per call", "speed.png"),
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
        parts.append(decay_markdown(tables, record))
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


def decay_markdown(tables: dict[str, list[Row]], record: Row) -> str:
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
            _image(record, "gradient decay", "decay.png"),
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
