"""What this machine is: host name, CPU, cores, memory, BLAS and thread settings, library
versions, and its NVIDIA GPU when a run asks for CUDA.

Nothing here imports a framework: versions come from package metadata, and a framework's
thread count is read only if that framework is already imported.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rnnbench.errors import InputError

#: the devices a command can run on
DEVICES = ("cpu", "cuda")
_NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")

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


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """Everything a run record says about the machine, as JSON-ready values (with the GPU's
    name, driver and the frameworks' CUDA versions when ``device`` is "cuda")."""
    info = {
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_total_bytes": total_memory_bytes(),
        "memory_available_bytes": available_memory_bytes(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "blas": blas_info(),
        "threads": thread_settings(),
        "versions": library_versions(),
    }
    if device == "cuda":
        info["gpu"] = gpu_info()
    return info


def check_device(device: str) -> None:
    """InputError, in one line, unless ``device`` is one of DEVICES and, for "cuda", this
    machine has an NVIDIA driver (nothing is imported to find out)."""
    if device not in DEVICES:
        raise InputError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cuda" and not _NVIDIA_DRIVER.exists() and shutil.which("nvidia-smi") is None:
        raise InputError(
            "--device cuda: this machine has no NVIDIA GPU driver (no "
            f"{_NVIDIA_DRIVER}, no nvidia-smi on PATH); run with --device cpu"
        )


def gpu_info() -> dict[str, Any]:
    """The GPUs nvidia-smi reports (name, driver, memory) and the CUDA versions of the
    frameworks already imported (torch's CUDA and cuDNN, JAX's devices)."""
    info: dict[str, Any] = {"gpus": []}
    if shutil.which("nvidia-smi") is not None:
        query = "name,driver_version,memory.total"
        try:
            text = subprocess.run(
                ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            info["gpus"] = f"nvidia-smi failed: {exc}"
        else:
            keys = query.split(",")
            info["gpus"] = [
                dict(zip(keys, (v.strip() for v in line.split(",")), strict=False))
                for line in text.splitlines()
                if line.strip()
            ]
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_cuda"] = torch.version.cuda
        info["torch_cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    jax = sys.modules.get("jax")
    if jax is not None:
        try:
            info["jax_devices"] = [d.device_kind for d in jax.devices("gpu")]
        except RuntimeError as exc:
            info["jax_devices"] = f"none: {exc}"
    return info


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
