"""Speed: wall time of one ``unroll`` and one ``bptt``, for every backend x size x dtype x
cell x device, the peak memory of one ``bptt`` call itself, and the seconds ``warm_up``
spends compiling (tanh activation; gated cells skip on commits from before they existed).

Data, conversion to native arrays and the JIT compile happen in ``setup`` (memoized by
``common.prepare``), never inside the timed call.
"""

from __future__ import annotations

from rnnbench.problems import Problem

from . import common


class Speed:
    """One backend on one problem of size ``size``, dtype ``dtype`` and cell ``cell`` on
    ``device``."""

    params = (
        common.builtin_backends(),
        list(common.SIZES),
        list(common.DTYPES),
        list(common.CELLS),
        list(common.DEVICES),
    )
    param_names = ("backend", "size", "dtype", "cell", "device")
    #: bump when what a benchmark measures changes; asv then starts its history afresh
    version = "2"
    timeout = 180.0
    # One process per case, 0.1 s of untimed calls, then 5 to 25 samples of one call each,
    # stopping after about 2 s: a stable median while a whole run stays within minutes
    # (each case's process also imports its framework). More: `asv run -a rounds=2`.
    rounds = 1
    repeat = (5, 25, 2.0)
    warmup_time = 0.1

    def setup(self, backend: str, size: str, dtype: str, cell: str, device: str) -> None:
        problem = common.problem(cell, **common.dims(size), activation="tanh", dtype=dtype, seed=0)
        self.case = common.prepare(backend, problem, device)

    def time_forward(self, backend: str, size: str, dtype: str, cell: str, device: str) -> None:
        """One forward unroll over T steps."""
        self.case.unroll()

    def time_bptt(self, backend: str, size: str, dtype: str, cell: str, device: str) -> None:
        """One full BPTT (every gradient, no truncation)."""
        self.case.bptt()


class BpttMemory:
    """Peak memory of one BPTT call itself, above what was in use before it (the framework's
    import and the inputs are not in it): replaces ``Speed.peakmem_bptt``, which was the
    whole process's peak and so mostly the framework's import."""

    params = Speed.params
    param_names = Speed.param_names
    version = "1"
    timeout = 180.0

    def setup(self, backend: str, size: str, dtype: str, cell: str, device: str) -> None:
        problem = common.problem(cell, **common.dims(size), activation="tanh", dtype=dtype, seed=0)
        self.peak = common.prepare(backend, problem, device).bptt_peak_bytes()

    def track_bptt_peak(self, backend: str, size: str, dtype: str, cell: str, device: str) -> int:
        """Bytes (see ``common.Case.bptt_peak_bytes`` for how each backend is measured)."""
        return self.peak

    track_bptt_peak.unit = "bytes"


class Compile:
    """Seconds ``warm_up`` spends compiling ``unroll`` and ``bptt`` (JAX's ahead-of-time
    compile; 0 for eager backends), on the medium problem."""

    params = (common.builtin_backends(), list(common.DTYPES))
    param_names = ("backend", "dtype")
    version = "1"
    timeout = 180.0

    def setup(self, backend: str, dtype: str) -> None:
        problem = Problem(**common.dims("medium"), activation="tanh", dtype=dtype, seed=0)
        self.case = common.prepare(backend, problem)

    def track_compile(self, backend: str, dtype: str) -> float:
        """What ``warm_up`` returned, the first time in this process."""
        return self.case.compile_seconds

    track_compile.unit = "seconds"
