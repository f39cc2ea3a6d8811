"""Peak memory of one backend call: the compiled program's memory analysis where the
backend has one (XLA), torch's peak-memory statistics on a CUDA device, tracemalloc for
NumPy arrays, and the resident-memory high-water mark (Linux) for other frameworks whose
allocations tracemalloc does not see."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import re
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnbench.harness.timing import backend_calls
from rnnbench.interface import Backend, Grads, Inputs

MEMORY_METHODS: dict[str, str] = {
    "tracemalloc": (
        "peak bytes NumPy allocated during the BPTT call above what was live before it "
        "(exact for NumPy arrays; includes the returned gradients)"
    ),
    "rss-hwm": (
        "resident-memory high-water mark during the BPTT call minus resident memory before it "
        "(Linux VmHWM after clear_refs, malloc_trim first): pages the call newly touched, from "
        "any allocator, page-granular; memory the framework's allocator kept from earlier "
        "calls is not counted, workspaces and thread stacks are; one call after warm-up"
    ),
    "xla-memory-analysis": (
        "bytes the compiled BPTT program allocates beyond its arguments, from XLA's memory "
        "analysis of it (temporaries plus outputs, less outputs aliased to arguments): what "
        "one call needs, on the host or on the device, independent of allocator caching"
    ),
    "torch-cuda": (
        "torch.cuda.max_memory_allocated during the BPTT call minus the memory allocated "
        "before it (peak statistics reset first): device memory of tensors, cached blocks "
        "not counted, cuDNN/cuBLAS workspaces allocated through torch counted"
    ),
}


@dataclass(frozen=True)
class PeakMemory:
    """Peak bytes of a call (None when not measurable), the method's key in MEMORY_METHODS
    (or 'n/a'), and why it is not measurable."""

    peak_bytes: int | None
    method: str
    reason: str = ""


def bptt_peak(backend: Backend, inputs: Inputs, activation: str) -> tuple[PeakMemory, Grads]:
    """Peak memory of one BPTT call of ``backend`` on native ``inputs``, and its gradients:
    the backend's own figure (``Backend.bptt_memory_bytes``, e.g. XLA's analysis) where it
    has one, else ``peak_memory``."""
    _, bptt = backend_calls(backend, inputs, activation)
    analysed = backend.bptt_memory_bytes(inputs, activation=activation)
    if analysed is not None:
        grads = bptt()
        backend.synchronize(grads)
        return PeakMemory(int(analysed), "xla-memory-analysis"), grads
    return peak_memory(bptt, backend.synchronize, inputs.xs)


def peak_memory(
    call: Callable[[], Any], synchronize: Callable[[Any], None], native: Any
) -> tuple[PeakMemory, Any]:
    """Peak memory of one call of ``call``, and that call's result. ``native`` is one of the
    backend's native arrays, which decides the method: tracemalloc for NumPy arrays, the
    RSS high-water mark otherwise (or 'n/a' with the reason)."""
    if isinstance(native, np.ndarray):
        return _tracemalloc_peak(call, synchronize)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(native, torch.Tensor) and native.is_cuda:
        return _torch_cuda_peak(torch, native.device, call, synchronize)
    unavailable = _rss_hwm_unavailable()
    if unavailable:
        reason = (
            f"tracemalloc does not see {type(native).__module__} allocations and the RSS "
            f"high-water mark is unavailable: {unavailable}"
        )
        result = call()
        synchronize(result)
        return PeakMemory(None, "n/a", reason), result
    return _rss_hwm_peak(call, synchronize)


def _tracemalloc_peak(
    call: Callable[[], Any], synchronize: Callable[[Any], None]
) -> tuple[PeakMemory, Any]:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        gc.collect()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = call()
        synchronize(result)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    return PeakMemory(max(0, peak - before), "tracemalloc"), result


def _torch_cuda_peak(
    torch: Any, device: Any, call: Callable[[], Any], synchronize: Callable[[Any], None]
) -> tuple[PeakMemory, Any]:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    result = call()
    synchronize(result)
    peak = torch.cuda.max_memory_allocated(device)
    return PeakMemory(max(0, peak - before), "torch-cuda"), result


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _rss_hwm_unavailable() -> str:
    """Why the RSS high-water method cannot be used here ('' when it can)."""
    if not _STATUS.exists() or not _CLEAR_REFS.exists():
        return "needs Linux /proc/self/status and /proc/self/clear_refs"
    try:
        _CLEAR_REFS.write_text("5")
    except OSError as exc:
        return f"cannot reset the high-water mark ({exc.strerror or exc})"
    return ""


def _status_bytes(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"no {field} in {_STATUS}")
    return int(match.group(1)) * 1024


def _release_free_heap() -> None:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _rss_hwm_peak(
    call: Callable[[], Any], synchronize: Callable[[Any], None]
) -> tuple[PeakMemory, Any]:
    gc.collect()
    _release_free_heap()
    _CLEAR_REFS.write_text("5")
    before = _status_bytes("VmRSS")
    result = call()
    synchronize(result)
    peak = _status_bytes("VmHWM")
    return PeakMemory(max(0, peak - before), "rss-hwm"), result
