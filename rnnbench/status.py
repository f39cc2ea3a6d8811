"""Status rows: what happened to one backend on one task of a command (its status.csv).

A row is ``{"backend", "task", "status", "message"}``; the task is a size label or the name
of a study, the status one of "ok", "skipped" (the backend does not support what the task
needs), "failed" (it raised) and "disagrees" (it ran but missed the tolerance).
"""

from __future__ import annotations

from rnnbench.errors import UnsupportedError
from rnnbench.report import Row


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
