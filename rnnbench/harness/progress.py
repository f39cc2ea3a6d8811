"""The progress bar the commands draw on stderr while they measure."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO


class Progress:
    """A plain-text progress bar on stderr: ``[#####-----]  3/12  numpy T=100 ...``.

    On a terminal it redraws one line; otherwise it writes one line per task.
    ``between_tasks`` (if given) is called at every ``advance``: the commands pass
    ``interrupts.checkpoint`` there, so an interrupt is acted on before the next task.
    """

    def __init__(
        self,
        total: int,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        between_tasks: Callable[[], None] | None = None,
    ) -> None:
        self.between_tasks = between_tasks
        self.total = max(1, total)
        self.done = 0
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.redraw = self.stream.isatty()
        self.width = 0

    def show(self, label: str) -> None:
        """Show the task now being worked on."""
        if not self.enabled:
            return
        filled = 20 * self.done // self.total
        line = f"[{'#' * filled}{'-' * (20 - filled)}] {self.done:>3}/{self.total}  {label}"
        if self.redraw:
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` tasks as done."""
        self.done = min(self.total, self.done + n)
        if self.between_tasks is not None:
            self.between_tasks()

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self.redraw and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
