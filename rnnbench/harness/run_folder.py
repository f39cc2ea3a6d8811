"""The run folder: where a command's outputs go, written all at once or not at all.

Each run is built in a hidden ``.partial-*`` folder inside ``<root>/runs`` and renamed to
its final name, ``<YYYYmmdd-HHMMSS>-<command>`` (with ``-2``, ``-3``, ... if taken), only
once complete. An exception, Ctrl-C, SIGTERM or SIGHUP removes the partial folder, and a
run interrupted while it is being published is removed again; an earlier run is never
touched or overwritten. A run killed outright (SIGKILL) can leave a ``.partial-*`` folder,
never a folder that looks complete: ``leftover_partials`` finds those of processes that no
longer exist, for the next run to report or remove.
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
from rnnbench.harness import interrupts

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
    partial = runs / f"{PARTIAL_PREFIX}{command}-{os.getpid()}-{secrets.token_hex(4)}"
    folder = RunFolder(partial)
    published = None
    try:  # from before the folder exists: a signal at any point leaves nothing behind
        try:
            runs.mkdir(parents=True, exist_ok=True)
            partial.mkdir()
        except OSError as exc:
            reason = _reason(exc)
            raise ResultsFolderError(f"cannot write results under {runs}: {reason}") from exc
        yield folder
        with interrupts.deferred():  # a signal now is acted on after the rename
            interrupts.checkpoint()
            published = _publish(partial, runs / f"{started}-{command}")
        folder.path, folder.complete = published, True
    finally:
        if not folder.complete:
            with interrupts.deferred(check=False):  # a second signal must not stop the cleanup
                shutil.rmtree(published or partial, ignore_errors=True)


def leftover_partials(root: str | os.PathLike[str]) -> list[Path]:
    """The ``.partial-*`` folders under ``<root>/runs`` whose process no longer exists (a
    run killed outright); the folders of runs still going on are left out."""
    runs = Path(root) / RUNS_DIR
    try:
        candidates = sorted(runs.glob(f"{PARTIAL_PREFIX}*"))
    except OSError:
        return []
    return [path for path in candidates if path.is_dir() and not _owner_alive(path)]


def _owner_alive(partial: Path) -> bool:
    """Whether the process whose id is in the folder's name still runs."""
    parts = partial.name.removeprefix(PARTIAL_PREFIX).split("-")
    pid = next((int(p) for p in reversed(parts[:-1]) if p.isdigit()), None)
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_partials(partials: list[Path]) -> list[Path]:
    """Remove the given partial folders; the ones that could not be removed."""
    for path in partials:
        shutil.rmtree(path, ignore_errors=True)
    return [path for path in partials if path.exists()]


@contextmanager
def writing(path: Path) -> Iterator[Path]:
    """``path``; an OSError while the block writes it becomes a ResultsFolderError naming
    the file ("cannot write <path>: File too large")."""
    try:
        yield path
    except ResultsFolderError:
        raise
    except OSError as exc:
        raise ResultsFolderError(f"cannot write {path}: {_reason(exc)}") from exc


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
