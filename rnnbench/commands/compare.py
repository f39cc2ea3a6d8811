"""`rnnbench compare RUN RUN...`: how the timings of run folders differ, with the uncertainty.

The first run is the baseline; every later run is set against it. For each backend, size,
dtype, activation and phase that both ran, the ratio of the median times (later over first;
above 1 is slower) with a bootstrap confidence interval from the kept samples
(``statistics.ratio_of_medians``) and a verdict at ``--threshold`` (``statistics.verdict``).
Runs whose settings differ are compared only where they match: a run on another device or
with other thread settings is not compared at all, and every row found in only one run is
listed. ``--fail-above PCT`` exits 1 when any row is a significant slowdown by more than
PCT %, for CI. Output: a table on the terminal (or ``--format markdown|csv|json``), and a run
folder OUT/runs/<timestamp>-compare with compare.csv, compare.json, compare.md and the
plot compare.png.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from rnnbench.commands import options
from rnnbench.commands.session import fail, report_leftovers
from rnnbench.errors import InputError
from rnnbench.harness import statistics
from rnnbench.harness.measure import SPEED_PHASES, phase_samples
from rnnbench.harness.record import SCHEMA_VERSION, run_identity
from rnnbench.harness.run_folder import new_run_folder
from rnnbench.report.pages import COMPARE_COLUMNS, write_compare
from rnnbench.report.plots import plots_unavailable
from rnnbench.report.tables import Row, json_text, markdown_table, read_csv, text_table

NAME = "compare"
SUMMARY = (
    "Compare run folders of `rnnbench run`: per backend, size and phase the ratio of median "
    "times against the first run with a 95 % bootstrap interval and a verdict (faster, "
    "slower, no significant change); --fail-above exits 1 on a significant slowdown."
)
#: the columns that identify a timing inside a run
KEY = ("backend", "size", "dtype", "activation", "phase")
#: run settings that must be equal for two runs to be compared at all
RUN_SETTINGS = ("device", "threads")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rnnbench compare`."""
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="run folders of `rnnbench run` (two or more); the first is the baseline",
    )
    parser.add_argument(
        "--threshold",
        type=options.positive_float,
        default=5.0,
        metavar="PCT",
        help="a ratio is 'slower' (or 'faster') when its interval excludes 1 and it differs "
        "from 1 by more than PCT %%",
    )
    parser.add_argument(
        "--fail-above",
        type=options.positive_float,
        metavar="PCT",
        help="exit 1 if any row is a significant slowdown of more than PCT %% (for CI)",
    )
    parser.add_argument(
        "--phase",
        action="append",
        choices=SPEED_PHASES,
        help="phase to compare, repeatable (default: all; bptt is forward + BPTT)",
    )
    parser.add_argument(
        "--format",
        choices=["table", "markdown", "csv", "json"],
        default="table",
        help="what is printed; the run folder gets every format",
    )
    options.add_output_options(parser)


@dataclass(frozen=True)
class LoadedRun:
    """A run folder: its name, settings that decide comparability, and its samples by KEY."""

    name: str
    settings: dict[str, object]
    samples: dict[tuple[str, ...], list[float]]


def load_run(path: str | Path) -> LoadedRun:
    """A run folder's record and kept samples; InputError naming what is missing."""
    folder = Path(path)
    record_path = folder / "run.json"
    if not record_path.is_file():
        raise InputError(f"{folder} is not a run folder of `rnnbench run` (no run.json)")
    record = json.loads(record_path.read_text())
    if int(record.get("schema_version", 1)) > SCHEMA_VERSION:
        raise InputError(
            f"{folder}: run record schema {record['schema_version']} is newer than this "
            f"rnnbench reads ({SCHEMA_VERSION}); upgrade rnnbench"
        )
    samples_path = folder / "samples.csv"
    if not samples_path.is_file():
        raise InputError(
            f"{folder} has no samples.csv: it predates kept samples (schema "
            f"{record.get('schema_version', 1)}); rerun it with this rnnbench"
        )
    threads = record.get("threads") or {}
    settings = {
        "device": record.get("device", "cpu"),
        "threads": threads.get("requested") if isinstance(threads, dict) else threads,
    }
    return LoadedRun(folder.name, settings, _samples_by_key(read_csv(samples_path)))


def _samples_by_key(rows: Sequence[Row]) -> dict[tuple[str, ...], list[float]]:
    """Seconds per KEY from samples.csv rows, with the backward phase made per round."""
    rounds: dict[tuple[str, ...], dict[str, dict[int, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for row in rows:
        group = tuple(row[k] for k in KEY[:-1])
        rounds[group][row["phase"]][int(row["round"])] = float(row["seconds"])
    samples: dict[tuple[str, ...], list[float]] = {}
    for group, by_phase in rounds.items():
        indices = sorted(set(by_phase["forward"]) | set(by_phase["bptt"]))
        forward = [by_phase["forward"].get(i) for i in indices]
        bptt = [by_phase["bptt"].get(i) for i in indices]
        for phase, seconds in phase_samples(forward, bptt).items():
            timed = [s for s in seconds if s is not None]
            if timed and all(s > 0 for s in timed):  # else too small to split from the noise
                samples[(*group, phase)] = timed
    return samples


def compare_runs(
    runs: Sequence[LoadedRun], *, threshold: float, phases: Sequence[str] = SPEED_PHASES
) -> tuple[list[Row], list[Row]]:
    """(compared, not compared): a row per KEY both the first run and a later one timed,
    and a row per KEY or run that could not be compared, with the reason. ``threshold``:
    a fraction (0.05 = 5 %)."""
    first, compared, skipped = runs[0], [], []
    for run in runs[1:]:
        differ = [
            f"{k} {first.settings[k]} vs {run.settings[k]}"
            for k in RUN_SETTINGS
            if first.settings[k] != run.settings[k]
        ]
        if differ:
            skipped.append({"run": run.name, "reason": "settings differ: " + "; ".join(differ)})
            continue
        for key in sorted(set(first.samples) | set(run.samples)):
            if key[-1] not in phases:
                continue
            where = {"run": run.name, **dict(zip(KEY, key, strict=True))}
            if key not in run.samples or key not in first.samples:
                only = first.name if key in first.samples else run.name
                skipped.append({**where, "reason": f"only in {only}"})
                continue
            old, new = first.samples[key], run.samples[key]
            ratio = statistics.ratio_of_medians(new, old)
            compared.append(
                {
                    **where,
                    "baseline_run": first.name,
                    "old_ms": 1e3 * median(old),
                    "new_ms": 1e3 * median(new),
                    "ratio": ratio.ratio,
                    "ci_low": ratio.low,
                    "ci_high": ratio.high,
                    "samples": ratio.n,
                    "verdict": statistics.verdict(ratio, threshold),
                }
            )
    return compared, skipped


def slowdowns(rows: Sequence[Row], fail_above: float) -> list[Row]:
    """The rows that are a significant slowdown by more than ``fail_above`` (a fraction)."""
    return [
        r
        for r in rows
        if statistics.verdict(
            statistics.Ratio(r["ratio"], r["ci_low"], r["ci_high"], r["samples"]), fail_above
        )
        == statistics.SLOWER
    ]


def execute(args: argparse.Namespace) -> int:
    """Compare the runs, print the result, write the compare folder, and exit 1 on a
    slowdown beyond --fail-above."""
    if len(args.runs) < 2:
        raise InputError("compare needs two or more run folders")
    runs = [load_run(path) for path in args.runs]
    phases = tuple(dict.fromkeys(args.phase or SPEED_PHASES))
    rows, skipped = compare_runs(runs, threshold=args.threshold / 100, phases=phases)
    no_plots = plots_unavailable()
    record = {
        "command": NAME,
        **run_identity(runs[0].settings["device"], None),
        "runs": [str(Path(p).resolve()) for p in args.runs],
        "threshold_pct": args.threshold,
        "fail_above_pct": args.fail_above,
        "method": "ratio of medians (later run over the first); " + statistics.METHOD,
        "plots": no_plots or "drawn",
        "compared": rows,
        "not_compared": skipped,
    }
    report_leftovers(args.out, clean=args.clean_partial)
    with new_run_folder(args.out, NAME) as folder:
        write_compare(folder.path, record)
    shown = {
        "table": lambda: text_table(rows, COMPARE_COLUMNS),
        "markdown": lambda: markdown_table(rows, COMPARE_COLUMNS),
        "csv": lambda: (folder.path / "compare.csv").read_text().rstrip(),
        "json": lambda: json_text({"compared": rows, "not_compared": skipped}),
    }[args.format]()
    print(shown)
    if args.format in ("table", "markdown"):
        for row in skipped:
            what = " ".join(str(row[k]) for k in ("run", *KEY) if k in row)
            print(f"not compared: {what}: {row['reason']}")
        print(f"ratio: new median / old median; interval: {statistics.METHOD}")
        print(f"results: {folder.path}")
    if args.fail_above is not None:
        slower = slowdowns(rows, args.fail_above / 100)
        if slower:
            names = "; ".join(
                f"{r['backend']} {r['size']} {r['phase']} x{r['ratio']:.2f}" for r in slower
            )
            fail(f"significant slowdown above {args.fail_above:g} %: {names}")
            return options.EXIT_FAILED
    return options.EXIT_OK
