"""The run folder: where a command's outputs go, written all at once or not at all.

Each run is built in a hidden ``.partial-*`` folder inside ``<root>/runs`` and renamed to
its final name, ``<YYYYmmdd-HHMMSS>-<command>`` (with ``-2``, ``-3``, ... if taken), only
once complete. An exception or Ctrl-C removes the partial folder; an earlier run is never
touched or overwritten. A run killed outright (SIGKILL) can leave a ``.partial-*`` folder,
never a folder that looks complete.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rnnbench.errors import RnnbenchError

RUNS_DIR = "runs"
PARTIAL_PREFIX = ".partial-"


class ResultsFolderError(RnnbenchError, OSError):
    """The results folder cannot be created or written."""


class RunFolder:
    """A run's folder: ``path`` is the partial folder while it is built, then the final one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.complete = False


@contextmanager
def new_run_folder(root: str | os.PathLike[str], command: str) -> Iterator[RunFolder]:
    """A RunFolder under ``<root>/runs``, published when the ``with`` block ends normally.

    Raises ResultsFolderError at once if the folder cannot be written.
    """
    runs = Path(root) / RUNS_DIR
    started = time.strftime("%Y%m%d-%H%M%S")
    try:
        runs.mkdir(parents=True, exist_ok=True)
        partial = runs / f"{PARTIAL_PREFIX}{command}-{os.getpid()}-{secrets.token_hex(4)}"
        partial.mkdir()
    except OSError as exc:
        raise ResultsFolderError(f"cannot write results under {runs}: {_reason(exc)}") from exc
    folder = RunFolder(partial)
    try:
        yield folder
        folder.path = _publish(partial, runs / f"{started}-{command}")
        folder.complete = True
    finally:
        if not folder.complete:
            shutil.rmtree(partial, ignore_errors=True)


def _publish(partial: Path, target: Path) -> Path:
    """Rename ``partial`` to ``target``, or to ``target-2``, ``-3``, ... if that exists."""
    for attempt in range(1, 1000):
        final = target if attempt == 1 else target.with_name(f"{target.name}-{attempt}")
        if final.exists():
            continue
        try:
            os.rename(partial, final)  # never replaces a non-empty folder
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):  # taken by a concurrent run
                continue
            raise ResultsFolderError(f"cannot publish the run to {final}: {_reason(exc)}") from exc
        return final
    raise ResultsFolderError(f"no free run folder name next to {target}")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
