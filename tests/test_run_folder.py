"""The run folder's edge paths: names taken, the rename race, a failed publish, exhausted
names, an unwritable root; each error carries the operating system's reason."""

from __future__ import annotations

import errno
import os
import re

import pytest

from rnnbench.errors import RnnbenchError
from rnnbench.harness import run_folder

STAMP = "20240102-030405"


@pytest.fixture
def stamp(monkeypatch):
    """Freeze the run's start time at STAMP."""

    def strftime(fmt: str) -> str:
        assert fmt == "%Y%m%d-%H%M%S"
        return STAMP

    monkeypatch.setattr(run_folder.time, "strftime", strftime)
    return STAMP


def _publish_empty(root) -> None:
    with run_folder.new_run_folder(root, "run"):
        pass


def _entries(root) -> list[str]:
    return sorted(os.listdir(root / run_folder.RUNS_DIR))


def test_a_run_is_built_in_a_partial_folder_and_renamed_when_complete(tmp_path):
    with run_folder.new_run_folder(str(tmp_path), "run") as folder:
        partial = folder.path
        assert partial.parent == tmp_path / "runs"
        assert re.fullmatch(rf"\.partial-run-{os.getpid()}-[0-9a-f]{{8}}", partial.name)
        assert partial.is_dir() and folder.complete is False
        (partial / "table.csv").write_text("a,b\n")
    assert folder.complete is True
    assert re.fullmatch(r"\d{8}-\d{6}-run", folder.path.name)
    assert folder.path.parent == tmp_path / "runs"
    assert (folder.path / "table.csv").read_text() == "a,b\n"
    assert _entries(tmp_path) == [folder.path.name]


@pytest.mark.parametrize("stop", [ValueError("boom"), KeyboardInterrupt()])
def test_an_interrupted_run_leaves_nothing(tmp_path, stop):
    with pytest.raises(type(stop)), run_folder.new_run_folder(tmp_path, "run") as folder:
        (folder.path / "half.csv").write_text("")
        raise stop
    assert not folder.complete
    assert _entries(tmp_path) == []


def test_a_partial_folder_removed_by_the_run_itself_does_not_hide_its_error(tmp_path):
    with pytest.raises(ValueError, match=r"^boom$"), run_folder.new_run_folder(tmp_path, "x") as f:
        f.path.rmdir()
        raise ValueError("boom")


@pytest.mark.parametrize("taken", [1, 2, 3])
def test_a_taken_name_gets_the_next_number(tmp_path, stamp, taken):
    runs = tmp_path / "runs"
    runs.mkdir()
    names = [f"{stamp}-run"] + [f"{stamp}-run-{k}" for k in range(2, taken + 1)]
    for name in names:
        (runs / name).mkdir()  # empty: os.rename alone would replace it
    with run_folder.new_run_folder(tmp_path, "run") as folder:
        pass
    assert folder.path == runs / f"{stamp}-run-{taken + 1}"
    assert _entries(tmp_path) == sorted([*names, folder.path.name])


def _fail_renames(monkeypatch, errors):
    """os.rename raises the next of ``errors`` (then renames for real); returns the targets."""
    real_rename, targets, pending = os.rename, [], list(errors)

    def rename(src, dst):
        targets.append(os.path.basename(dst))
        if pending:
            raise pending.pop(0)
        real_rename(src, dst)

    monkeypatch.setattr(run_folder.os, "rename", rename)
    return targets


@pytest.mark.parametrize(
    "race",
    [
        FileExistsError(errno.EEXIST, "File exists"),
        OSError(errno.ENOTEMPTY, "Directory not empty"),
        OSError(errno.EEXIST, "File exists"),
    ],
)
def test_a_name_taken_by_a_concurrent_run_between_check_and_rename_is_skipped(
    tmp_path, stamp, monkeypatch, race
):
    targets = _fail_renames(monkeypatch, [race, race])
    with run_folder.new_run_folder(tmp_path, "run") as folder:
        pass
    assert targets == [f"{stamp}-run", f"{stamp}-run-2", f"{stamp}-run-3"]
    assert folder.complete and folder.path.name == f"{stamp}-run-3"


@pytest.mark.parametrize(
    ("code", "reason"),
    [(errno.EACCES, "Permission denied"), (errno.EXDEV, "Invalid cross-device link")],
)
def test_a_failed_publish_names_the_target_and_the_os_reason(
    tmp_path, stamp, monkeypatch, code, reason
):
    _fail_renames(monkeypatch, [OSError(code, os.strerror(code))])
    target = tmp_path / "runs" / f"{stamp}-run"
    with pytest.raises(run_folder.ResultsFolderError) as caught:
        _publish_empty(tmp_path)
    assert str(caught.value) == f"cannot publish the run to {target}: {reason}"
    assert caught.value.__cause__.errno == code
    assert isinstance(caught.value, RnnbenchError) and isinstance(caught.value, OSError)
    assert _entries(tmp_path) == []  # the partial folder is removed


def test_an_error_without_an_os_reason_is_shown_as_it_is(tmp_path, stamp, monkeypatch):
    _fail_renames(monkeypatch, [OSError("the disk went away")])
    with pytest.raises(run_folder.ResultsFolderError, match=r"the disk went away$"):
        _publish_empty(tmp_path)


def test_exhausted_names_are_an_error_after_999_tries(tmp_path, stamp, monkeypatch):
    targets = _fail_renames(monkeypatch, [FileExistsError(errno.EEXIST, "File exists")] * 1000)
    target = tmp_path / "runs" / f"{stamp}-run"
    with pytest.raises(run_folder.ResultsFolderError) as caught:
        _publish_empty(tmp_path)
    assert str(caught.value) == f"no free run folder name next to {target}"
    assert targets[:3] == [f"{stamp}-run", f"{stamp}-run-2", f"{stamp}-run-3"]
    assert len(targets) == 999 and targets[-1] == f"{stamp}-run-999"
    assert _entries(tmp_path) == []


def test_an_unwritable_root_is_refused_at_once_with_the_os_reason(tmp_path):
    root = tmp_path / "a-file"
    root.write_text("")
    entered = False
    with (
        pytest.raises(run_folder.ResultsFolderError) as caught,
        run_folder.new_run_folder(root, "x"),
    ):
        entered = True
    assert not entered
    assert str(caught.value) == f"cannot write results under {root / 'runs'}: Not a directory"
    assert isinstance(caught.value.__cause__, NotADirectoryError)


def test_a_failing_partial_folder_is_refused_with_the_os_reason(tmp_path, monkeypatch):
    def mkdir(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(run_folder.Path, "mkdir", mkdir)
    with pytest.raises(run_folder.ResultsFolderError, match=r"Permission denied$"):
        _publish_empty(tmp_path)
