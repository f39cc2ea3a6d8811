"""What every measuring command repeats: select the backends, draw progress, build the run
folder atomically, write it, and turn what happened into an exit code.

A command supplies its driver (``measure``: backends and progress in, tables and its part of
the record out) and its writer (``report.pages.write_*``); ``run_session`` does the rest.
Failures of one backend are recorded in status rows and the command goes on with the others.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnbench.commands.options import EXIT_FAILED, EXIT_OK
from rnnbench.harness import interrupts
from rnnbench.harness.machine import check_device, machine_info
from rnnbench.harness.progress import Progress
from rnnbench.harness.record import run_identity
from rnnbench.harness.run_folder import leftover_partials, new_run_folder, remove_partials
from rnnbench.harness.threads import limit_threads, sleep_when_idle
from rnnbench.interface import Backend
from rnnbench.presets import Size
from rnnbench.registry import backend_names, resolve_backend
from rnnbench.report.plots import plots_unavailable
from rnnbench.report.tables import Row, status_row

Tables = dict[str, list[Row]]
#: a command's driver: runnable backends by name and the progress bar in; its tables (with a
#: "status" table) and its own entries of the run record out
Measure = Callable[[Mapping[str, Backend], Progress], tuple[Tables, Row]]
Write = Callable[[Path, Row, Tables], None]


@dataclass
class Selected:
    """A backend chosen for a command: the instance, or None with the reason it cannot run
    and its ``status`` ("skipped" or "failed", the registry's availability policy)."""

    name: str
    backend: Backend | None
    reason: str = ""
    requested: bool = False
    status: str = "ok"


def select_backends(names: Sequence[str] | None, device: str = "cpu") -> list[Selected]:
    """The backends named (or every known one) on ``device``, resolved by
    ``registry.resolve_backend``;
    UnknownBackendError for an unknown name."""
    requested = names is not None
    selected = []
    for name in dict.fromkeys(names or backend_names()):
        found = resolve_backend(name, device)
        selected.append(Selected(name, found.backend, found.reason, requested, found.status))
    return selected


@dataclass
class Finished:
    """A command's written run: its folder, record and tables, and the backends it chose."""

    folder: Path
    record: Row
    tables: Tables
    selection: list[Selected]

    def exit_code(self) -> int:
        """EXIT_FAILED (with a one-line reason on stderr) if anything failed, else EXIT_OK.
        The line gives each backend's first failed task in full and counts its others (the
        status table has them all)."""
        failed = [r for r in self.tables["status"] if r["status"] in ("failed", "disagrees")]
        by_backend: dict[str, list[Row]] = {}
        for row in failed:
            by_backend.setdefault(row["backend"], []).append(row)
        problems = []
        for rows in by_backend.values():
            first = rows[0]
            text = f"{first['backend']} {first['task']}: {first['status']}".strip()
            text += f" ({first['message']})" if first["message"] else ""
            if len(rows) > 1:
                text += f" and {len(rows) - 1} more failed task(s) (status.csv)"
            problems.append(text)
        problems += [
            f"{s.name}: not available"
            for s in self.selection
            if s.requested and s.status == "skipped"
        ]
        if problems:
            fail("; ".join(problems))
            return EXIT_FAILED
        return EXIT_OK


def run_session(
    command: str,
    backend_names: Sequence[str] | None,
    *,
    count_tasks: Callable[[int], int],
    measure: Measure,
    write: Write,
    quiet: bool,
    out: str,
    device: str = "cpu",
    threads: int | None = None,
    clean_partial: bool = False,
) -> Finished:
    """Run ``measure`` on the selected backends (built on ``device``, with every framework's
    thread count set to ``threads``) into a new run folder under ``out``, written by
    ``write``; nothing is kept if anything raises or a signal arrives (see
    ``harness.interrupts``). Whether plots can be drawn is settled before anything is
    measured: without matplotlib they are skipped with a note. Partial folders that killed
    runs left under ``out`` are reported on stderr, or removed if ``clean_partial``."""
    check_device(device)
    no_plots = plots_unavailable()
    if no_plots:
        print(f"rnnbench: note: {no_plots}; plots will be skipped", file=sys.stderr)
    report_leftovers(out, clean=clean_partial)
    sleep_when_idle()
    limit_threads(threads)
    selection = select_backends(backend_names, device)
    limit_threads(threads)  # torch's pool, now that the frameworks are imported
    backends = {s.name: s.backend for s in selection if s.backend is not None}
    progress = Progress(
        count_tasks(len(backends)) + 1,
        enabled=not quiet,
        between_tasks=interrupts.checkpoint,
    )
    started = time.perf_counter()
    with new_run_folder(out, command) as folder:
        tables, entries = measure(backends, progress)
        unrunnable = [
            status_row(s.name, "load" if s.status == "failed" else "", s.status, s.reason)
            for s in selection
            if s.backend is None
        ]
        tables["status"] = unrunnable + tables["status"]
        progress.show("writing the report")
        record = {
            "command": command,
            **run_identity(device, threads),
            "argv": sys.argv,
            **entries,
            "backends": [
                {"name": s.name, "available": s.backend is not None, "reason": s.reason}
                for s in selection
            ],
            "wall_time_s": time.perf_counter() - started,
            "machine": machine_info(device),
            "plots": no_plots or "drawn",
        }
        write(folder.path, record, tables)
        progress.advance()
        progress.close()
    return Finished(folder.path, record, tables, selection)


def report_leftovers(out: str, *, clean: bool) -> None:
    """One line on stderr naming the ``.partial-*`` folders killed runs left under ``out``
    (``run_folder.leftover_partials``), removed first if ``clean``."""
    leftovers = leftover_partials(out)
    if not leftovers:
        return
    names = ", ".join(p.name for p in leftovers)
    runs = leftovers[0].parent
    if clean:
        kept = remove_partials(leftovers)
        removed = len(leftovers) - len(kept)
        note = f"; could not remove {', '.join(p.name for p in kept)}" if kept else ""
        print(
            f"rnnbench: removed {removed} partial folder(s) of killed runs in {runs}: {names}"
            f"{note}",
            file=sys.stderr,
        )
    else:
        print(
            f"rnnbench: warning: {len(leftovers)} partial folder(s) of killed runs in {runs}: "
            f"{names} (remove them with --clean-partial)",
            file=sys.stderr,
        )


def output_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``run_session`` that come straight from the command line's
    shared options (``options.add_output_options``, ``--device``, ``--threads``)."""
    names = ("quiet", "out", "device", "threads", "clean_partial")
    return {name: getattr(args, name) for name in names}


def settings_record(settings: Any) -> dict[str, Any]:
    """A settings dataclass as a JSON-ready dict (sizes as their labels)."""
    record = dict(vars(settings))
    for key, value in record.items():
        if isinstance(value, Size):
            record[key] = value.label
        elif isinstance(value, tuple) and value and isinstance(value[0], Size):
            record[key] = [s.label for s in value]
    return record


def fail(message: str) -> None:
    """Print ``rnnbench: error: <message>`` on one line of stderr."""
    print(f"rnnbench: error: {' '.join(message.split())}", file=sys.stderr)
