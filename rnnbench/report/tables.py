"""The data vocabulary of reports: rows, status rows, source labels, summary tables, and the
CSV, JSON, Markdown and plain-text writers.

A table is a list of rows, one dict per observation with the same keys. A status row says
what happened to one backend on one task of a command (its status.csv):
``{"backend", "task", "status", "message"}``, the task a size label or the name of a study,
the status one of "ok", "skipped" (the backend does not support what the task needs),
"failed" (it raised) and "disagrees" (it ran but missed the tolerance). The writers use
only the standard library (csv, json).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnbench.errors import RnnbenchError, UnsupportedError
from rnnbench.harness.run_folder import writing

Row = dict[str, Any]


REPORT_EXTRA = "pip install 'rnnbench[report]'"


class ReportDependencyError(RnnbenchError, ImportError):
    """matplotlib, needed to draw a plot, is not installed."""


THEORY = "theory"


REFERENCE = "float64 reference"


# -- files -------------------------------------------------------------------------------------
def write_csv(path: Path, rows: Sequence[Row], columns: Sequence[str] | None = None) -> Path:
    """One tidy table: a row per observation, a column per variable (``columns``, or every
    key in the order first seen); None and NaN as empty cells, floats in full precision."""
    names = list(columns) if columns else list(dict.fromkeys(k for row in rows for k in row))
    with writing(path), path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for row in rows:
            writer.writerow([_csv_cell(row.get(name)) for name in names])
    return path


def read_csv(path: Path) -> list[Row]:
    """A table written by ``write_csv``, every cell as text ('' for None)."""
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _csv_cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _csv_cell(value.item())
    return repr(value) if isinstance(value, float) else value


def write_json(path: Path, record: Any) -> Path:
    """A JSON file; NaN and inf are written as null, other objects as their str()."""
    return write_text(path, json_text(record) + "\n")


def write_text(path: Path, text: str) -> Path:
    """A text file; an error names it (``run_folder.writing``)."""
    with writing(path):
        path.write_text(text)
    return path


# -- run folders -------------------------------------------------------------------------------
def json_text(record: Any) -> str:
    """``record`` as indented JSON (NaN and inf as null)."""
    return json.dumps(_json_safe(record), indent=2, default=str)


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


RUN_SUMMARY_COLUMNS = [
    "backend",
    "size",
    "status",
    "fwd ms",
    "bwd ms",
    "bptt ms",
    "bptt x base",
    "bptt GFLOP/s",
    "% GEMM",
    "first bptt s",
    "compile s",
    "worst err",
    "tolerance",
    "peak MiB",
    "x bound",
]


def run_summary(tables: dict[str, list[Row]], baseline: str = "numpy") -> list[Row]:
    """One row per backend and size of `rnnbench run`: medians (forward, backward, forward +
    BPTT), the forward + BPTT time over ``baseline``'s with its interval, rates, agreement,
    memory."""
    sizes = {r["size"] for r in tables["gemm"]} | {""}
    speed = {(r["backend"], r["size"], r["phase"]): r for r in tables["speed"]}
    ratios = {
        (r["backend"], r["size"]): r for r in tables.get("ratios", []) if r["phase"] == "bptt"
    }
    memory = {(r["backend"], r["size"]): r for r in tables["memory"]}
    worst = worst_agreement(tables["agreement"])
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
                "bwd ms": _ms(speed.get((*key, "backward"), {}).get("median_s")),
                "bptt ms": _ms(bptt.get("median_s")),
                "bptt x base": "baseline"
                if status["backend"] == baseline
                else ratio_text(ratios.get(key)),
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


def ratio_text(row: Row | None) -> str | None:
    """``"1.11 [1.05, 1.18]"``: a ratio row's ratio and interval (None without a row)."""
    if row is None:
        return None
    return f"{row['ratio']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def ratio_note(baseline: str) -> str:
    """What the ratio column of the run summary means."""
    return (
        f"bptt x base: forward + BPTT time over {baseline}'s, the median of the per-round "
        "ratios of interleaved rounds, with its 95 % bootstrap interval (ratios.csv has "
        "every phase); bwd = forward + BPTT minus forward, per round."
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def worst_agreement(rows: Sequence[Row]) -> dict[tuple[str, str], Row]:
    """Per (backend, size), the agreement row with the largest error relative to its
    tolerance."""
    worst: dict[tuple[str, str], Row] = {}
    for r in rows:
        key = (r["backend"], r["size"])
        current = worst.get(key)
        if current is None or r["error"] * current["tolerance"] > current["error"] * r["tolerance"]:
            worst[key] = r
    return worst


DECAY_SUMMARY_COLUMNS = [
    "source",
    "cell",
    "state",
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


def status_row(backend: str, task: str, status: str, message: str = "") -> Row:
    """A status row: what happened to ``backend`` on ``task``."""
    return {"backend": backend, "task": task, "status": status, "message": message}


def error_text(exc: BaseException) -> str:
    """``"Type: message"`` on one line."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def failure(exc: Exception) -> tuple[str, str]:
    """(status, message) of a task that raised ``exc``: "skipped" for an UnsupportedError,
    else "failed"."""
    return ("skipped" if isinstance(exc, UnsupportedError) else "failed"), error_text(exc)
