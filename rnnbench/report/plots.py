"""The PNG plots of the run folders: speed, ratios between runs, gradient-decay curves and
training losses.

matplotlib is imported inside the functions (``pip install 'rnnbench[report]'``). Commands
ask ``plots_unavailable`` before they measure anything; without matplotlib they skip the
plots with a note, so a finished measurement is never lost for want of a plot.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnbench.harness.run_folder import writing
from rnnbench.report.tables import REFERENCE, REPORT_EXTRA, THEORY, ReportDependencyError, Row


def plots_unavailable() -> str:
    """Why plots cannot be drawn here ('' when they can), found without importing
    matplotlib."""
    if importlib.util.find_spec("matplotlib") is None:
        return f"matplotlib is not installed ({REPORT_EXTRA})"
    return ""


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


def plot_ratios(rows: Sequence[Row], threshold: float, path: Path) -> Path:
    """`rnnbench compare`'s ratios: a horizontal bar per row (run, backend, size, phase) at
    its ratio with its confidence interval as whiskers, log axis, the band of no significant
    change (1 / (1 + threshold) to 1 + threshold) shaded. ``rows``: compare rows (run,
    backend, size, phase, ratio, ci_low, ci_high, verdict)."""
    plt = _pyplot()
    colours = {"slower": "crimson", "faster": "seagreen"}
    labels = [f"{r['backend']} {r['size']} {r['phase']} ({r['run']})" for r in rows]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.32 * len(rows)))
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows, strict=True):
        ax.errorbar(
            r["ratio"],
            y,
            xerr=[[r["ratio"] - r["ci_low"]], [r["ci_high"] - r["ratio"]]],
            fmt="o",
            color=colours.get(r["verdict"], "grey"),
            capsize=3,
        )
    ax.axvspan(1 / (1 + threshold), 1 + threshold, color="grey", alpha=0.15)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("new median / old median (log); whiskers: 95 % interval")
    ax.set_title(
        f"Ratios against the first run (shaded: within {threshold:.0%}; red slower, green faster)"
    )
    ax.grid(axis="x", which="both", alpha=0.3)
    return _save(fig, path)


def plot_decay(curves: Sequence[Row], summary: Sequence[Row], path: Path) -> Path:
    """||dL/ds_(T-k)|| / ||dL/ds_T|| against k on a log axis, a panel per cell and activation
    (and per state part s, h or c, for the LSTM; ``curve_panel``), a colour per alpha:
    theory dotted where there is one, the float64 reference thick and pale, each backend
    thin; an x marks where a backend's curve ends by overflow or underflow (overflows are
    labelled with their k). ``curves``: rows (source, cell, state, activation, alpha, k,
    ratio, valid); ``summary``: rows (source, cell, state, activation, alpha, status,
    last_valid_k). Rows without cell and state are the elman cell's dL/dh."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    panels = list(dict.fromkeys(curve_panel(r) for r in curves))
    alphas = sorted({r["alpha"] for r in curves})
    sources = list(dict.fromkeys(r["source"] for r in curves))
    backends = [s for s in sources if s not in (THEORY, REFERENCE)]
    colours = {a: plt.cm.viridis(i / max(1, len(alphas) - 1) * 0.85) for i, a in enumerate(alphas)}
    styles = ["-", "--", "-.", (0, (6, 2)), (0, (3, 1, 1, 1, 1, 1)), (0, (10, 3, 2, 3))]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.8), squeeze=False)
    series = _group_curves(curves)
    ks_all = {r["k"] for r in curves}
    lowest, highest = math.inf, 0.0  # over every panel: the same axes, so cells compare by eye
    last_k = 0
    for ax, panel in zip(axes[0], panels, strict=True):
        for alpha in alphas:
            colour = colours[alpha]
            for source in sources:
                ks, ratios = series.get((source, panel, alpha), ([], []))
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
        for alpha in alphas:
            ends = _curve_ends(summary, series, panel, alpha, backends)
            for ks, _ in series_for(series, backends, panel, alpha):
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
        ax.set_yscale("log")
        ax.set_xlabel("k (steps back from the last step T)")
        state = "c" if panel.endswith("dL/dc") else "h"
        ax.set_ylabel(f"||dL/d{state}_(T-k)|| / ||dL/d{state}_T|| (log)")
        ax.set_title(panel)
        ax.grid(which="major", alpha=0.3)
    for ax in axes[0]:
        if last_k:
            ax.set_xlim(-0.02 * last_k, last_k * 1.08)
        if lowest < math.inf:
            ax.set_ylim(
                10.0 ** (math.floor(math.log10(lowest)) - 2),
                10.0 ** (math.ceil(math.log10(max(highest, 1.0))) + 1),
            )
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
        "recurrent weights alpha * Q (Q orthogonal, per gate); theory: alpha^k (identity), "
        "Pascanu's bound (gamma*alpha)^k (elman tanh, sigmoid); none for gated cells",
        fontsize=10,
    )
    return _save(fig, path, right=1 - 1.3 / fig.get_figwidth())


def series_for(
    series: dict[tuple, tuple[list[int], list[float]]],
    sources: Sequence[str],
    panel: str,
    alpha: float,
) -> list[tuple[list[int], list[float]]]:
    """The (k, ratio) series of ``sources`` for one panel and alpha that have points."""
    found = [series.get((s, panel, alpha)) for s in sources]
    return [f for f in found if f and f[0]]


def _curve_ends(
    summary: Sequence[Row],
    series: dict[tuple, tuple[list[int], list[float]]],
    panel: str,
    alpha: float,
    backends: Sequence[str],
) -> dict[tuple[str, int, int], tuple[int, float]]:
    """Where the backends' curves of one panel and alpha end by overflow or underflow:
    (kind, first k, last k) -> the point of the earliest end, one entry per kind."""
    by_kind: dict[str, list[tuple[int, int, float]]] = {}
    for row in summary:
        if (curve_panel(row), row["alpha"]) != (panel, alpha) or row["source"] not in backends:
            continue
        for kind, column in (("overflowed", "overflow_k"), ("underflowed", "underflow_k")):
            k = row.get(column)
            points = series.get((row["source"], panel, alpha))
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
    """(source, panel, alpha) -> (k, ratio) over the valid points."""
    series: dict[tuple, tuple[list[int], list[float]]] = {}
    for r in curves:
        if r["valid"]:
            ks, ratios = series.setdefault((r["source"], curve_panel(r), r["alpha"]), ([], []))
            ks.append(r["k"])
            ratios.append(r["ratio"])
    return series


def curve_panel(row: Row) -> str:
    """The panel of a decay row: "elman tanh" (one per activation), "lstm dL/dh",
    "lstm dL/dc", "gru dL/dh"; a row without a cell is the elman cell's."""
    cell = row.get("cell") or "elman"
    if cell == "elman":
        return f"elman {row['activation']}"
    return f"{cell} dL/d{row.get('state') or 'h'}"


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
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout(rect=(0, 0, right, 1))
        with writing(path):
            fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path
