"""What this machine is: CPU, cores, memory, BLAS and thread settings, library versions.

Nothing here imports a framework: versions come from package metadata, and a framework's
thread count is read only if that framework is already imported.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: distributions whose versions every run record names
LIBRARIES: tuple[str, ...] = (
    "rnnbench",
    "numpy",
    "torch",
    "jax",
    "jaxlib",
    "pandas",
    "matplotlib",
    "threadpoolctl",
)

#: environment variables that set BLAS and framework thread counts
THREAD_VARIABLES: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "XLA_FLAGS",
)


def machine_info() -> dict[str, Any]:
    """Everything a run record says about the machine, as JSON-ready values."""
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_total_bytes": total_memory_bytes(),
        "memory_available_bytes": available_memory_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "blas": blas_info(),
        "threads": thread_settings(),
        "versions": library_versions(),
    }


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the logical core count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def total_memory_bytes() -> int | None:
    """Physical memory, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def available_memory_bytes() -> int | None:
    """Memory available to new allocations (MemAvailable, capped by a cgroup limit), or None."""
    available = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    limit = Path("/sys/fs/cgroup/memory.max")
    if limit.exists():
        text = limit.read_text().strip()
        if text.isdigit():
            available = int(text) if available is None else min(available, int(text))
    return available


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS (name, version, configuration), and threadpoolctl's view if installed."""
    info: dict[str, Any] = {}
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info = {k: blas.get(k) for k in ("name", "version", "openblas configuration") if k in blas}
    except (TypeError, AttributeError):  # NumPy without the dict mode
        info = {"name": "unknown"}
    if importlib.util.find_spec("threadpoolctl") is not None:
        import threadpoolctl

        info["threadpools"] = [
            {k: pool.get(k) for k in ("internal_api", "num_threads", "version", "filepath")}
            for pool in threadpoolctl.threadpool_info()
        ]
    else:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def thread_settings() -> dict[str, Any]:
    """Thread-count environment variables, and torch's thread count if torch is imported."""
    settings: dict[str, Any] = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    torch = sys.modules.get("torch")
    if torch is not None:
        settings["torch_num_threads"] = torch.get_num_threads()
    return settings


def library_versions() -> dict[str, str]:
    """Installed version of each of LIBRARIES ('not installed' where missing)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
