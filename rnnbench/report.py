"""Writing results: tidy CSV tables, JSON records, Markdown and plain-text tables, PNG plots.

Rows are lists of dicts (one dict per observation, same keys). pandas and matplotlib are
imported inside the functions that need them (``pip install 'rnnbench[report]'``); the
text tables need neither.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnbench.errors import RnnbenchError

Row = dict[str, Any]

REPORT_EXTRA = "pip install 'rnnbench[report]'"


class ReportDependencyError(RnnbenchError, ImportError):
    """pandas or matplotlib, needed to write the report, is not installed."""


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ReportDependencyError(
            f"writing CSV tables needs pandas, which is not installed: {REPORT_EXTRA}"
        ) from exc
    return pandas


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ReportDependencyError(
            f"drawing plots needs matplotlib, which is not installed: {REPORT_EXTRA}"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# -- files -------------------------------------------------------------------------------------
def write_csv(path: Path, rows: Sequence[Row], columns: Sequence[str] | None = None) -> Path:
    """One tidy table: a row per observation, a column per variable."""
    frame = _pandas().DataFrame(list(rows), columns=list(columns) if columns else None)
    frame.to_csv(path, index=False)
    return path


def write_json(path: Path, record: Any) -> Path:
    """A JSON file; NaN and inf are written as null, other objects as their str()."""
    path.write_text(json.dumps(_json_safe(record), indent=2, default=str) + "\n")
    return path


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _json_safe(value.item())
    return value


# -- tables as text ----------------------------------------------------------------------------
def format_value(value: Any) -> str:
    """A cell: floats with 3 significant digits, None and NaN as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def text_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """A plain-text table with aligned columns, for the terminal."""
    cells = [[format_value(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [format_value(row.get(c)).replace("|", "\\|") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- plots -------------------------------------------------------------------------------------
def plot_speed(rows: Sequence[Row], path: Path) -> Path:
    """Median time per call (log scale, bars per backend, whiskers from the first to the third
    quartile) at every size, forward and forward+BPTT side by side. ``rows``: speed rows
    (backend, size, phase, median_s, q25_s, q75_s)."""
    plt = _pyplot()
    phases = ["forward", "bptt"]
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(6 + 1.6 * len(sizes), 4.8), squeeze=False)
    width = 0.8 / max(1, len(backends))
    for ax, phase in zip(axes[0], phases, strict=True):
        for j, backend in enumerate(backends):
            xs, ys, lo, hi = [], [], [], []
            for i, size in enumerate(sizes):
                match = [
                    r
                    for r in rows
                    if r["phase"] == phase and r["backend"] == backend and r["size"] == size
                ]
                if match:
                    r = match[0]
                    xs.append(i + (j - (len(backends) - 1) / 2) * width)
                    ys.append(r["median_s"] * 1e3)
                    lo.append((r["median_s"] - r["q25_s"]) * 1e3)
                    hi.append((r["q75_s"] - r["median_s"]) * 1e3)
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=backend)
        ax.set_yscale("log")
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([s.replace(" ", "\n") for s in sizes], fontsize=8)
        ax.set_xlabel("size (T steps, B batch, D input, H hidden)")
        ax.set_ylabel("median time per call [ms] (log)")
        ax.set_title("forward (unroll)" if phase == "forward" else "forward + BPTT")
        ax.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="backend", fontsize=8, loc="center right")
    fig.suptitle("Time per call by backend and size (whiskers: interquartile range)")
    return _save(fig, path, right=1 - 1.4 / fig.get_figwidth())


def plot_decay(curves: Sequence[Row], summary: Sequence[Row], path: Path) -> Path:
    """||dL/dh_(T-k)|| / ||dL/dh_T|| against k on a log axis, a panel per activation, a colour
    per alpha: theory dotted, the float64 reference thick and pale, each backend thin; an x
    marks where a backend's curve ends by overflow or underflow (overflows are labelled
    with their k). ``curves``: rows (source,
    activation, alpha, k, ratio, valid); ``summary``: rows (source, activation, alpha,
    status, last_valid_k)."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    activations = list(dict.fromkeys(r["activation"] for r in curves))
    alphas = sorted({r["alpha"] for r in curves})
    sources = list(dict.fromkeys(r["source"] for r in curves))
    backends = [s for s in sources if s not in (THEORY, REFERENCE)]
    colours = {a: plt.cm.viridis(i / max(1, len(alphas) - 1) * 0.85) for i, a in enumerate(alphas)}
    styles = ["-", "--", "-.", (0, (6, 2)), (0, (3, 1, 1, 1, 1, 1)), (0, (10, 3, 2, 3))]
    fig, axes = plt.subplots(
        1, len(activations), figsize=(5.2 * len(activations), 4.8), squeeze=False
    )
    series = _group_curves(curves)
    ks_all = {r["k"] for r in curves}
    for ax, activation in zip(axes[0], activations, strict=True):
        lowest, highest = math.inf, 0.0
        for alpha in alphas:
            colour = colours[alpha]
            for source in sources:
                ks, ratios = series.get((source, activation, alpha), ([], []))
                if not ks:
                    continue
                if source == THEORY:
                    ax.plot(ks, ratios, ":", color=colour, lw=1.6)
                elif source == REFERENCE:
                    ax.plot(ks, ratios, "-", color=colour, lw=5, alpha=0.3)
                else:
                    style = styles[backends.index(source) % len(styles)]
                    ax.plot(ks, ratios, linestyle=style, color=colour, lw=1.1)
                    lowest, highest = min(lowest, min(ratios)), max(highest, max(ratios))
        last_k = 0
        for alpha in alphas:
            ends = _curve_ends(summary, series, activation, alpha, backends)
            for ks, _ in series_for(series, backends, activation, alpha):
                last_k = max(last_k, ks[-1])
            for (kind, k_first, k_last), (k, ratio) in ends.items():
                ax.plot(k, ratio, "x", color="crimson", ms=9, mew=2)
                if kind == "overflowed":
                    where = f"k = {k_first}" if k_first == k_last else f"k = {k_first}-{k_last}"
                    ax.annotate(
                        f"{kind} at {where}",
                        (k, ratio),
                        fontsize=8,
                        color="crimson",
                        xytext=(-10, -4),
                        textcoords="offset points",
                        ha="right",
                    )
        if last_k:
            ax.set_xlim(-0.02 * last_k, last_k * 1.08)
        ax.set_yscale("log")
        if lowest < math.inf:
            ax.set_ylim(
                10.0 ** (math.floor(math.log10(lowest)) - 2),
                10.0 ** (math.ceil(math.log10(max(highest, 1.0))) + 1),
            )
        ax.set_xlabel("k (steps back from the last step T)")
        ax.set_ylabel("||dL/dh_(T-k)|| / ||dL/dh_T|| (log)")
        ax.set_title(f"activation = {activation}")
        ax.grid(which="major", alpha=0.3)
    handles = [Line2D([], [], color=colours[a], lw=2, label=f"alpha = {a:g}") for a in alphas]
    handles.append(Line2D([], [], color="grey", ls=":", lw=1.6, label="theory"))
    handles.append(Line2D([], [], color="grey", lw=5, alpha=0.3, label=REFERENCE))
    handles += [
        Line2D([], [], color="black", ls=styles[i % len(styles)], lw=1.1, label=b)
        for i, b in enumerate(backends)
    ]
    handles.append(Line2D([], [], color="crimson", marker="x", ls="", label="over/underflow"))
    fig.legend(handles=handles, fontsize=8, loc="center right")
    dtypes = sorted({r["dtype"] for r in summary if r["source"] in backends})
    fig.suptitle(
        f"Gradient decay ({', '.join(dtypes) or 'no backend'}, T = {len(ks_all)}), "
        "W_hh = alpha * Q with Q orthogonal; theory: alpha^k (identity), "
        "Pascanu's bound (gamma*alpha)^k (others)",
        fontsize=10,
    )
    return _save(fig, path, right=1 - 1.3 / fig.get_figwidth())


THEORY = "theory"
REFERENCE = "float64 reference"


def series_for(
    series: dict[tuple, tuple[list[int], list[float]]],
    sources: Sequence[str],
    activation: str,
    alpha: float,
) -> list[tuple[list[int], list[float]]]:
    """The (k, ratio) series of ``sources`` for one activation and alpha that have points."""
    found = [series.get((s, activation, alpha)) for s in sources]
    return [f for f in found if f and f[0]]


def _curve_ends(
    summary: Sequence[Row],
    series: dict[tuple, tuple[list[int], list[float]]],
    activation: str,
    alpha: float,
    backends: Sequence[str],
) -> dict[tuple[str, int, int], tuple[int, float]]:
    """Where the backends' curves of one activation and alpha end by overflow or underflow:
    (kind, first k, last k) -> the point of the earliest end, one entry per kind."""
    by_kind: dict[str, list[tuple[int, int, float]]] = {}
    for row in summary:
        if (row["activation"], row["alpha"]) != (activation, alpha) or row[
            "source"
        ] not in backends:
            continue
        for kind, column in (("overflowed", "overflow_k"), ("underflowed", "underflow_k")):
            k = row.get(column)
            points = series.get((row["source"], activation, alpha))
            if row["status"].startswith(kind) and k is not None and points:
                ks, ratios = points
                by_kind.setdefault(kind, []).append((int(k), ks[-1], ratios[-1]))
    ends = {}
    for kind, found in by_kind.items():
        ks = sorted(f[0] for f in found)
        _, k_end, ratio_end = min(found)
        ends[(kind, ks[0], ks[-1])] = (k_end, ratio_end)
    return ends


def _group_curves(curves: Sequence[Row]) -> dict[tuple, tuple[list[int], list[float]]]:
    """(source, activation, alpha) -> (k, ratio) over the valid points."""
    series: dict[tuple, tuple[list[int], list[float]]] = {}
    for r in curves:
        if r["valid"]:
            ks, ratios = series.setdefault((r["source"], r["activation"], r["alpha"]), ([], []))
            ks.append(r["k"])
            ratios.append(r["ratio"])
    return series


def plot_training(losses: Sequence[Row], outcomes: Sequence[Row], path: Path) -> Path:
    """Loss against SGD step (log scale), a panel per scenario and a line per backend: each
    step's loss faint, its moving average solid (backends that agree draw on top of each
    other). A red dashed line marks the step at which a run diverged; the grey dashed line
    is the loss of predicting the mean. ``losses``: rows (scenario, backend, step, loss);
    ``outcomes``: rows (scenario, shows, backend, outcome, diverged_at, baseline)."""
    plt = _pyplot()
    scenarios = list(dict.fromkeys(r["scenario"] for r in outcomes))
    backends = list(dict.fromkeys(r["backend"] for r in outcomes))
    last_step = max((r["step"] for r in losses), default=0)
    n = len(scenarios)
    cols = min(n, 2)
    rows_n = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(6.4 * cols, 4.3 * rows_n), squeeze=False)
    series: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
    for r in losses:
        if r["loss"] is not None and math.isfinite(r["loss"]):
            steps, values = series.setdefault((r["scenario"], r["backend"]), ([], []))
            steps.append(r["step"])
            values.append(r["loss"])
    window = max(1, (last_step + 1) // 30)
    colours = {b: plt.cm.tab10(i % 10) for i, b in enumerate(backends)}
    styles = ["-", "--", "-.", (0, (6, 2)), (0, (3, 1, 1, 1, 1, 1)), (0, (10, 3, 2, 3))]
    for index, scenario in enumerate(scenarios):
        ax = axes[index // cols][index % cols]
        mine = [o for o in outcomes if o["scenario"] == scenario]
        diverged = sorted({o["diverged_at"] for o in mine if o["diverged_at"] is not None})
        for o in mine:
            steps, values = series.get((scenario, o["backend"]), ([], []))
            colour = colours[o["backend"]]
            style = styles[backends.index(o["backend"]) % len(styles)]
            ax.plot(steps, values, color=colour, lw=0.6, alpha=0.25)
            ax.plot(
                steps,
                _moving_average(values, window),
                color=colour,
                ls=style,
                lw=1.5,
                marker="o" if len(steps) == 1 else None,
                label=f"{o['backend']}: {o['outcome']}",
            )
        for step in diverged:
            ax.axvline(step, color="crimson", ls="--", lw=1.2)
            ax.annotate(
                f"diverged at step {step}",
                (step, 0.5),
                xycoords=("data", "axes fraction"),
                xytext=(6, 0),
                textcoords="offset points",
                color="crimson",
                fontsize=8,
            )
        ax.axhline(mine[0]["baseline"], color="grey", ls="--", lw=1, label="predict the mean")
        ax.set_xlim(-0.01 * max(last_step, 1), last_step * 1.01 + 0.5)
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.set_ylabel(f"loss (log; solid: moving average of {window})")
        ax.set_title(f"{scenario}: {mine[0]['shows']}", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(which="major", alpha=0.3)
    for index in range(n, rows_n * cols):
        axes[index // cols][index % cols].set_visible(False)
    fig.suptitle("Training loss per backend (same seed: curves of agreeing backends coincide)")
    return _save(fig, path)


def _moving_average(values: Sequence[float], window: int) -> list[float]:
    """Mean of each value and the ``window - 1`` before it (fewer at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _save(fig: Any, path: Path, right: float = 1.0) -> Path:
    """Lay out (leaving the part right of ``right`` to a figure legend), write, close."""
    fig.tight_layout(rect=(0, 0, right, 1))
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# -- run folders -------------------------------------------------------------------------------
def json_text(record: Any) -> str:
    """``record`` as indented JSON (NaN and inf as null)."""
    return json.dumps(_json_safe(record), indent=2, default=str)


RUN_SUMMARY_COLUMNS = [
    "backend",
    "size",
    "status",
    "fwd ms",
    "bptt ms",
    "bptt GFLOP/s",
    "% GEMM",
    "first bptt s",
    "compile s",
    "worst err",
    "tolerance",
    "peak MiB",
    "x bound",
]


def run_summary(tables: dict[str, list[Row]]) -> list[Row]:
    """One row per backend and size of `rnnbench run`: medians, rates, agreement, memory."""
    sizes = {r["size"] for r in tables["gemm"]} | {""}
    speed = {(r["backend"], r["size"], r["phase"]): r for r in tables["speed"]}
    memory = {(r["backend"], r["size"]): r for r in tables["memory"]}
    worst = _worst_agreement(tables["agreement"])
    rows = []
    for status in tables["status"]:
        if status["task"] not in sizes:
            continue
        key = (status["backend"], status["task"])
        fwd, bptt = speed.get((*key, "forward"), {}), speed.get((*key, "bptt"), {})
        mem, err = memory.get(key, {}), worst.get(key, {})
        peak = mem.get("peak_bytes")
        rows.append(
            {
                "backend": status["backend"],
                "size": status["task"] or "-",
                "status": status["status"],
                "fwd ms": _ms(fwd.get("median_s")),
                "bptt ms": _ms(bptt.get("median_s")),
                "bptt GFLOP/s": bptt.get("gflops"),
                "% GEMM": bptt.get("pct_of_gemm"),
                "first bptt s": bptt.get("first_call_s"),
                "compile s": bptt.get("compile_s"),
                "worst err": err.get("error"),
                "tolerance": err.get("tolerance"),
                "peak MiB": None if peak is None else peak / 2**20,
                "x bound": mem.get("ratio_to_bound"),
                "message": status["message"],
            }
        )
    return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


DECAY_SUMMARY_COLUMNS = [
    "source",
    "activation",
    "alpha",
    "status",
    "fitted_rate",
    "theory_rate",
    "verdict",
    "error_vs_reference",
    "tolerance",
    "agrees",
]

TRAIN_OUTCOME_COLUMNS = ["scenario", "backend", "outcome", "final_loss", "diverged_at"]


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
                failing or list(_worst_agreement(tables["agreement"]).values()),
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


def _worst_agreement(rows: Sequence[Row]) -> dict[tuple[str, str], Row]:
    """Per (backend, size), the agreement row with the largest error relative to its
    tolerance."""
    worst: dict[tuple[str, str], Row] = {}
    for r in rows:
        key = (r["backend"], r["size"])
        current = worst.get(key)
        if current is None or r["error"] * current["tolerance"] > current["error"] * r["tolerance"]:
            worst[key] = r
    return worst


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
            f"{r['source']} {r['activation']} alpha={r['alpha']:g} "
            f"({r['error_vs_reference']:.3g} > {r['tolerance']:.3g})"
            for r in disagreeing
        )
    return "\n".join(
        [
            "## Gradient decay\n",
            "![gradient decay](decay.png)\n",
            "Each curve is ||dL/dh_(T-k)|| / ||dL/dh_T|| against k for a loss on the last step "
            "only, with W_hh = alpha * Q (Q orthogonal, every singular value alpha). On the log "
            "axis a straight line is geometric decay or growth; its slope is the fitted rate. "
            "Dotted: theory, exactly alpha^k for the identity activation, Pascanu's upper bound "
            "(gamma*alpha)^k for tanh (gamma = 1) and sigmoid (gamma = 1/4). Thick pale: the "
            "float64 reference. A curve ends with an x where the backend's own dtype overflowed "
            "or underflowed; the status column gives the k.\n",
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
