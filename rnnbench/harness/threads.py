"""Thread counts of every framework: set them (``--threads N``) and say what is in force.

``limit_threads(n)`` sets, for this process and the worker processes it starts:

* the environment variables OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS (read
  by BLAS libraries and torch when they load);
* the BLAS pools already loaded (NumPy's OpenBLAS) through threadpoolctl, when it is installed
  (``pip install 'rnnbench[threads]'``);
* torch's intra-op pool (``torch.set_num_threads``) if torch is imported; call it again after
  constructing backends;
* for n = 1, XLA's CPU client single-threaded (``--xla_cpu_multi_thread_eigen=false
  intra_op_parallelism_threads=1`` in XLA_FLAGS). XLA reads its flags once, when JAX creates
  its CPU client, so this must happen before a JAX backend is built; XLA has no flag for a
  pool of N > 1 threads, which the record then says.

``sleep_when_idle()`` sets OMP_WAIT_POLICY=PASSIVE unless the user set it: an OpenMP pool
(torch's) then sleeps between calls instead of spinning for milliseconds. In interleaved
rounds the next call is another framework's, and spinning threads took its cores: on the
2-core machine torch-manual's BPTT at T=100 B=32 H=256 measured 6.2x NumPy's interleaved with
spinning, 2.0x with sleeping threads, and 2.06x timed alone.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from rnnbench.errors import InputError

#: environment variables that set BLAS and OpenMP pools
POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


#: the OpenMP idle policy rnnbench sets unless the environment sets one
IDLE_POLICY = ("OMP_WAIT_POLICY", "PASSIVE")


def sleep_when_idle() -> None:
    """Let OpenMP pools sleep between calls (``IDLE_POLICY``; see the module docstring);
    before any framework is imported, as OpenMP reads it when it starts."""
    os.environ.setdefault(*IDLE_POLICY)


def limit_threads(n: int | None) -> None:
    """Set every framework's thread count to ``n`` (None: leave the library defaults)."""
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"--threads must be an integer >= 1, got {n!r}")
    for name in POOL_VARIABLES:
        os.environ[name] = str(n)
    if n == 1 and XLA_SINGLE_THREAD not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_SINGLE_THREAD}".strip()
    if importlib.util.find_spec("threadpoolctl") is not None:
        import threadpoolctl

        threadpoolctl.threadpool_limits(limits=n)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def threads_in_force(requested: int | None) -> dict[str, Any]:
    """What sets the thread counts of this process: the request, the environment variables,
    each BLAS pool's threads (threadpoolctl), torch's threads if torch is imported, and what
    XLA was told."""
    state: dict[str, Any] = {"requested": requested}
    names = (*POOL_VARIABLES, IDLE_POLICY[0], "XLA_FLAGS")
    state.update({name: os.environ.get(name) for name in names})
    if importlib.util.find_spec("threadpoolctl") is not None:
        import threadpoolctl

        state["blas_pools"] = [
            {"api": p.get("internal_api"), "num_threads": p.get("num_threads")}
            for p in threadpoolctl.threadpool_info()
        ]
    else:
        state["blas_pools"] = "threadpoolctl not installed: pip install 'rnnbench[threads]'"
    torch = sys.modules.get("torch")
    if torch is not None:
        state["torch_num_threads"] = torch.get_num_threads()
    flags = os.environ.get("XLA_FLAGS", "")
    state["xla"] = (
        "single-threaded (XLA_FLAGS)"
        if XLA_SINGLE_THREAD in flags
        else "XLA's default pool (XLA has no flag for N > 1 threads)"
        if requested
        else "XLA's default pool"
    )
    return state
