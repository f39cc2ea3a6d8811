"""Peak-memory edge paths: /proc parsing, the unavailable method, tracing already on.

The /proc files are replaced by files in a temporary folder, so these run on any system.
"""

from __future__ import annotations

import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

from rnnbench.harness import memory


@pytest.fixture
def proc(tmp_path, monkeypatch):
    """A fake /proc/self: status (VmRSS 1000 kB) and a writable clear_refs."""
    status, clear_refs = tmp_path / "status", tmp_path / "clear_refs"
    status.write_text("Name:\tpython\nVmHWM:\t    1200 kB\nVmRSS:\t    1000 kB\n")
    clear_refs.write_text("")
    monkeypatch.setattr(memory, "_STATUS", status)
    monkeypatch.setattr(memory, "_CLEAR_REFS", clear_refs)
    return tmp_path


def test_status_fields_are_read_in_bytes(proc):
    assert memory._status_bytes("VmRSS") == 1000 * 1024
    assert memory._status_bytes("VmHWM") == 1200 * 1024


def test_a_missing_status_field_is_an_os_error_naming_it(proc):
    with pytest.raises(OSError, match=r"^no VmSwap in .*status$"):
        memory._status_bytes("VmSwap")


def test_the_high_water_method_is_available_when_clear_refs_can_be_written(proc):
    assert memory._rss_hwm_unavailable() == ""
    assert (proc / "clear_refs").read_text() == "5"


@pytest.mark.parametrize("missing", ["status", "clear_refs"])
def test_either_proc_file_missing_makes_the_method_unavailable(proc, missing):
    (proc / missing).unlink()
    assert memory._rss_hwm_unavailable() == (
        "needs Linux /proc/self/status and /proc/self/clear_refs"
    )


def test_an_unwritable_clear_refs_gives_the_os_reason(proc):
    (proc / "clear_refs").unlink()
    (proc / "clear_refs").mkdir()
    assert memory._rss_hwm_unavailable() == "cannot reset the high-water mark (Is a directory)"


def test_the_high_water_peak_is_the_mark_after_minus_resident_before(proc):
    synced = []

    def call():  # the kernel would raise VmHWM while the call runs
        (proc / "status").write_text("VmHWM:\t5000 kB\nVmRSS:\t3000 kB\n")
        return "result"

    peak, result = memory.peak_memory(call, synced.append, native=[1.0])
    assert (result, synced) == ("result", ["result"])
    assert peak == memory.PeakMemory((5000 - 1000) * 1024, "rss-hwm")


def test_a_mark_below_the_resident_size_before_counts_as_zero(proc):
    def call():
        (proc / "status").write_text("VmHWM:\t900 kB\nVmRSS:\t900 kB\n")

    peak, _ = memory.peak_memory(call, lambda r: None, native=[1.0])
    assert peak.peak_bytes == 0


def test_no_method_gives_n_a_with_the_reason_and_still_the_result(monkeypatch):
    monkeypatch.setattr(memory, "_rss_hwm_unavailable", lambda: "no /proc here")
    synced = []
    peak, result = memory.peak_memory(lambda: 42, synced.append, native=SimpleNamespace())
    assert (result, synced) == (42, [42])
    assert peak == memory.PeakMemory(
        None,
        "n/a",
        "tracemalloc does not see types allocations and the RSS high-water mark is "
        "unavailable: no /proc here",
    )


def test_tracing_already_on_stays_on_and_earlier_allocations_are_not_counted():
    n = 1 << 17
    synced = []
    tracemalloc.start()
    try:
        kept = np.ones(4 * n)  # 4 MiB live before the call
        peak, result = memory.peak_memory(lambda: np.ones(n), synced.append, np.zeros(1))
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()
    assert kept.size and result.size == n
    assert len(synced) == 1 and synced[0] is result
    assert 8 * n <= peak.peak_bytes < 8 * n + (1 << 16)


def test_tracing_started_for_the_call_is_stopped_after_it():
    assert not tracemalloc.is_tracing()
    memory.peak_memory(lambda: np.ones(8), lambda r: None, np.zeros(1))
    assert not tracemalloc.is_tracing()


class FakeLibc:
    def __init__(self, name: str, trims: list[int]) -> None:
        self.name = name
        self.trims = trims

    def malloc_trim(self, pad: int) -> int:
        self.trims.append(pad)
        return 1


def test_free_heap_is_returned_with_malloc_trim_0(monkeypatch):
    trims, opened = [], []

    def cdll(name):
        opened.append(name)
        return FakeLibc(name, trims)

    monkeypatch.setattr(memory.ctypes.util, "find_library", {"c": "libc.so.6"}.get)
    monkeypatch.setattr(memory.ctypes, "CDLL", cdll)
    memory._release_free_heap()
    assert (opened, trims) == (["libc.so.6"], [0])


def test_no_c_library_or_no_malloc_trim_is_not_an_error(monkeypatch):
    opened = []
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(memory.ctypes, "CDLL", opened.append)
    memory._release_free_heap()
    assert opened == []
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: "libc.so")
    monkeypatch.setattr(memory.ctypes, "CDLL", lambda name: SimpleNamespace())
    memory._release_free_heap()  # a C library without malloc_trim (not glibc)
