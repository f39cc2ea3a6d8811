"""`rnnbench backends`: every discovered backend, its availability and capabilities."""

from __future__ import annotations

import argparse
import sys

from rnnbench.commands.options import EXIT_OK
from rnnbench.registry import list_backends
from rnnbench.report.tables import json_text, text_table

NAME = "backends"
SUMMARY = (
    "List every discovered backend with its availability, capabilities and version, "
    "and why an unavailable one cannot run."
)
COLUMNS = [
    "backend",
    "available",
    "version",
    "cells",
    "dtypes",
    "activations",
    "devices",
    "truncation",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rnnbench backends`."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def execute(args: argparse.Namespace) -> int:
    """Print every discovered backend."""
    rows = [
        {
            "backend": info.name,
            "available": info.available,
            "version": info.version or "-",
            "dtypes": ",".join(info.dtypes),
            "cells": ",".join(info.cells),
            "activations": ",".join(info.activations),
            "devices": ",".join(info.devices),
            "truncation": info.supports_truncation if info.available else None,
            "target": info.target,
            "reason": info.reason,
            "warning": info.warning,
        }
        for info in list_backends()
    ]
    for row in rows:
        if row["warning"]:
            print(f"rnnbench: warning: {row['warning']}", file=sys.stderr)
    if args.json:
        print(json_text(rows))
        return EXIT_OK
    print(text_table(rows, COLUMNS))
    for row in rows:
        if not row["available"] and not row["warning"]:
            print(f"{row['backend']}: {row['reason']}")
    return EXIT_OK
