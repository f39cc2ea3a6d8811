"""Partial folders left by runs killed outright: whose owner still runs (``_owner_alive``, on a
fake ``os.kill``), which are leftovers, and removing them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rnnbench.harness import run_folder


@pytest.fixture
def kill(monkeypatch):
    """A fake ``os.kill``: pid 4242 runs, 5151 runs under another user, any other pid is gone.
    Returns the list of (pid, signal) it was asked."""
    asked: list[tuple[int, int]] = []

    def fake_kill(pid: int, signal: int) -> None:
        asked.append((pid, signal))
        if pid == 5151:
            raise PermissionError(1, "Operation not permitted")
        if pid != 4242:
            raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(run_folder.os, "kill", fake_kill)
    return asked


@pytest.mark.parametrize(
    ("name", "alive", "asked"),
    [
        (".partial-run-4242-0123abcd", True, [(4242, 0)]),
        (".partial-run-5151-0123abcd", True, [(5151, 0)]),  # exists, owned by someone else
        (".partial-run-6161-0123abcd", False, [(6161, 0)]),
        (".partial-run-6161-12345678", False, [(6161, 0)]),  # an all-digit token is no pid
        (".partial-decay-7-4242-0123abcd", True, [(4242, 0)]),  # the last number before it
        (".partial-run-0123abcd", False, []),  # no pid at all
        (".partial-x", False, []),
    ],
)
def test_the_owner_is_the_pid_before_the_token(kill, name, alive, asked):
    assert run_folder._owner_alive(Path(name)) is alive
    assert kill == asked


def test_this_process_owns_its_own_folders_without_asking_the_os(kill):
    assert run_folder._owner_alive(Path(f".partial-run-{os.getpid()}-0123abcd")) is True
    assert kill == []


def _partial(root: Path, name: str) -> Path:
    path = root / run_folder.RUNS_DIR / name
    path.mkdir(parents=True)
    (path / "table.csv").write_text("a\n")
    return path


def test_leftovers_are_the_partial_folders_of_processes_gone(tmp_path, kill):
    gone = [_partial(tmp_path, ".partial-run-6161-aaaa0000"), _partial(tmp_path, ".partial-x")]
    _partial(tmp_path, ".partial-run-4242-bbbb0000")  # still running
    _partial(tmp_path, f".partial-run-{os.getpid()}-cccc0000")  # this process
    _partial(tmp_path, "20240102-030405-run-6161")  # a published run
    (tmp_path / "runs" / ".partial-file-6161-dddd0000").write_text("")  # not a folder
    assert run_folder.leftover_partials(str(tmp_path)) == sorted(gone)


def test_no_runs_folder_means_no_leftovers(tmp_path, kill):
    assert run_folder.leftover_partials(tmp_path) == []


def test_an_unreadable_runs_folder_means_no_leftovers(tmp_path, kill, monkeypatch):
    _partial(tmp_path, ".partial-run-6161-aaaa0000")

    def glob(self, pattern):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_folder.Path, "glob", glob)
    assert run_folder.leftover_partials(tmp_path) == []


def test_removing_partials_returns_those_still_there(tmp_path):
    removed = _partial(tmp_path, ".partial-run-6161-aaaa0000")
    stuck = tmp_path / "runs" / ".partial-file"
    stuck.write_text("")  # rmtree cannot remove a file: it stays
    gone = tmp_path / "runs" / ".partial-gone"  # already removed: not an error
    assert run_folder.remove_partials([removed, stuck, gone]) == [stuck]
    assert not removed.exists() and stuck.exists()
    assert run_folder.remove_partials([]) == []
