"""What identifies a run in its record (run.json and the other commands' records): the
schema version, when (UTC), which code (git commit and whether the tree was dirty), and the
device and thread settings it ran with. The machine itself is ``machine.machine_info``."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path
from typing import Any

import rnnbench
from rnnbench.harness.threads import threads_in_force

#: version of the record's layout; `rnnbench compare` reads records of this version or older
#: (1: before it was stated; 2: kept samples, device and threads)
SCHEMA_VERSION = 2


def run_identity(device: str, threads: int | None) -> dict[str, Any]:
    """The identifying entries of a run record."""
    return {
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "source": source_info(),
        "device": device,
        "threads": threads_in_force(threads),
    }


def source_info(path: Path | None = None) -> dict[str, Any]:
    """The git commit of the measured code (the checkout ``rnnbench`` is imported from, or
    ``path``) and whether its tracked files differ from it; commit None where it is not
    in a git checkout (an installed wheel) or git is missing."""
    where = path or Path(rnnbench.__file__).resolve().parent
    try:
        commit = _git(where, "rev-parse", "HEAD")
        dirty = bool(_git(where, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None, "version": rnnbench.__version__}
    return {"commit": commit, "dirty": dirty, "version": rnnbench.__version__}


def _git(where: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
