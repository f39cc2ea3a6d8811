"""The JAX backend: ``lax.scan`` under ``jit``, gradients by ``jax.vjp``.

jax is imported when the backend is constructed, never when this module is imported.

float64 is scoped: every entry point (``to_native``, ``_cell``, ``_unroll``, ``_bptt``,
``warm_up``) runs inside ``jax.enable_x64(dtype == "float64")``, a context manager that
restores the previous setting on exit, so nothing leaks into other backends or tests. Every
dot carries ``precision=HIGHEST`` (full float32 on GPUs, which would otherwise use TF32),
and the transposed dots of the VJP inherit it.

Programs are compiled ahead of time (``jit(f).lower(...).compile()``) once per (program,
activation, effective truncation, shapes, dtype, device) and kept in a module-level cache
shared by every instance; ``warm_up`` fills it and reports the seconds spent compiling.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rnnbench.errors import FrameworkMissingError
from rnnbench.interface import Backend, Grads, Inputs, Params

#: compiled executables by (program, activation, k, argument shapes and dtypes, device)
_COMPILED: dict[tuple[Any, ...], Any] = {}


def _activation(name: str, z: Any) -> Any:
    """f(z) elementwise for an array z of any shape."""
    import jax

    if name == "tanh":
        return jax.numpy.tanh(z)
    if name == "sigmoid":
        return jax.nn.sigmoid(z)
    if name == "relu":
        return jax.nn.relu(z)
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}")


def _dot(a: Any, b: Any) -> Any:
    """a @ b in full precision (a may carry leading batch dimensions)."""
    import jax

    return jax.numpy.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def _project(W_xh: Any, b: Any, xs: Any) -> Any:
    """The hoisted input projection: xs (T, B, D) -> xs @ W_xh + b (T, B, H), one GEMM."""
    T, B, D = xs.shape
    return (_dot(xs.reshape(T * B, D), W_xh) + b).reshape(T, B, -1)


def _scan(activation: str, pre: Any, h0: Any, W_hh: Any, eps: Any = None) -> Any:
    """States (T, B, H) of h_t = f(pre_t + h_{t-1} @ W_hh) (+ eps_t, when eps is given)."""
    import jax

    def step(h: Any, inputs: Any) -> tuple[Any, Any]:
        pre_t, eps_t = inputs
        h = _activation(activation, pre_t + _dot(h, W_hh))
        if eps_t is not None:
            h = h + eps_t
        return h, h

    return jax.lax.scan(step, h0, (pre, eps))[1]


def _streams(activation: str, k: int, pre: Any, h0: Any, eps: Any, *, hs: Any, W_hh: Any) -> Any:
    """Final states (T, B, H) of the T truncated streams of k cells (see ``JaxBackend``);
    pre, eps and the forward states hs are (T, B, H), h0 (B, H)."""
    import jax
    import jax.numpy as jnp

    T = pre.shape[0]
    s = jnp.arange(T)
    cells = s - k + 1 + jnp.arange(k)[:, None]  # (k, T): the cell stream s runs at step j
    active = (cells >= 0)[:, :, None, None]
    cells = jnp.maximum(cells, 0)
    start = jnp.where((s >= k)[:, None, None], hs[jnp.maximum(s - k, 0)], h0)

    def step(h: Any, inputs: Any) -> tuple[Any, None]:
        pre_j, eps_j, active_j = inputs
        h_next = _activation(activation, pre_j + _dot(h, W_hh)) + eps_j
        return jnp.where(active_j, h_next, h), None

    return jax.lax.scan(step, start, (pre[cells], eps[cells], active))[0]


def _cell_program(activation: str, k: None, W_xh, W_hh, b, x_t, h_prev):
    """h_t (B, H) = f(x_t (B, D) @ W_xh + h_prev (B, H) @ W_hh + b)."""
    return _activation(activation, _dot(x_t, W_xh) + _dot(h_prev, W_hh) + b)


def _unroll_program(activation: str, k: None, W_xh, W_hh, b, xs, h0):
    """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
    return _scan(activation, _project(W_xh, b, xs), h0, W_hh)


def _bptt_program(activation: str, k: int | None, W_xh, W_hh, b, xs, h0, dhs):
    """(W_xh, W_hh, b, h0, xs, hs) gradients of sum_t <dhs_t, h_t> (shapes as ``Grads``);
    k None is full BPTT. See ``JaxBackend`` for the two chained VJPs."""
    import jax
    import jax.numpy as jnp

    T, B, _ = xs.shape
    H = W_hh.shape[0]
    pre, project_vjp = jax.vjp(_project, W_xh, b, xs)
    eps = jnp.zeros_like(dhs)
    if k is None:
        hs, recurrence_vjp = jax.vjp(
            lambda pre, h0, eps: _scan(activation, pre, h0, W_hh, eps), pre, h0, eps
        )
    else:
        hs = _scan(activation, pre, h0, W_hh)
        _, recurrence_vjp = jax.vjp(
            lambda pre, h0, eps: _streams(activation, k, pre, h0, eps, hs=hs, W_hh=W_hh),
            pre,
            h0,
            eps,
        )
    deltas, dh0, adjoints = recurrence_vjp(dhs)
    previous = jnp.concatenate([h0[None], hs[:-1]]).reshape(T * B, H)
    dW_hh = _dot(previous.T, deltas.reshape(T * B, H))
    dW_xh, db, dxs = project_vjp(deltas)
    return dW_xh, dW_hh, db, dh0, dxs, adjoints


class JaxBackend(Backend[Any]):
    """``lax.scan`` under ``jit``; gradients by ``jax.vjp`` (see the module docstring).

    The input projection ``xs.reshape(T*B, D) @ W_xh + b`` is one GEMM before the scan.
    ``bptt`` chains two VJPs: the recurrence's, (pre, h0, eps) -> states with W_hh held
    fixed, gives deltas = dL/dpre (T, B, H), dh0 and the adjoints; the projection's, fed
    the deltas, gives dW_xh, db and dxs (one GEMM each). dW_hh = [h0; hs[:-1]]^T @ deltas
    is then one (H, T*B) @ (T*B, H) GEMM, where differentiating W_hh through the scan would
    accumulate it from T small GEMMs inside the backward loop (slower, notably at small B).

    Adjoints: a zero eps (T, B, H) is added to every state in the scan and differentiated
    with the rest, so dL/d eps_t = dL/dh_t.

    Truncated BPTT (k < T) by *streams*, as explained in ``rnnbench.reference``: T streams
    of k cells batched into one (T, B, H) carry of a ``lax.scan``, the start states
    constants of the recurrence's VJP.
    """

    name = "jax"
    devices = frozenset({"cpu", "cuda"})
    requires = ("jax",)
    install_hint = "pip install 'rnnbench[jax]'"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        import jax

        platform = "gpu" if device == "cuda" else "cpu"
        try:
            self._jax_device = jax.devices(platform)[0]
        except RuntimeError as exc:
            raise FrameworkMissingError(
                f"jax {jax.__version__} has no {platform} device, so backend {self.name!r} "
                f"cannot run on device={device!r} (a GPU needs a CUDA-enabled jaxlib, "
                f"e.g. pip install 'jax[cuda12]'): {exc}"
            ) from exc
        self.jax = jax

    def _x64(self, array: Any) -> contextlib.AbstractContextManager[Any]:
        """float64 enabled exactly when ``array`` is float64, for the block only."""
        return self.jax.enable_x64(str(array.dtype) == "float64")

    def _executable(self, program: Callable, activation: str, k: int | None, args: tuple):
        """(compiled ``program`` for these arguments, seconds spent compiling it now)."""
        jax = self.jax
        key = (program.__name__, activation, k, *((a.shape, str(a.dtype)) for a in args))
        key = (*key, self._jax_device)
        compiled = _COMPILED.get(key)
        if compiled is not None:
            return compiled, 0.0
        sharding = jax.sharding.SingleDeviceSharding(self._jax_device)
        specs = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding) for a in args]
        start = time.perf_counter()
        compiled = jax.jit(functools.partial(program, activation, k)).lower(*specs).compile()
        seconds = time.perf_counter() - start
        _COMPILED[key] = compiled
        return compiled, seconds

    def to_native(self, array: np.ndarray) -> Any:
        """A copy of ``array`` on the backend's device, same dtype."""
        with self._x64(array):
            return self.jax.device_put(np.array(array, copy=True), self._jax_device)

    def to_numpy(self, array: Any) -> np.ndarray:
        """A NumPy copy of a JAX array."""
        return np.array(array, copy=True)

    def synchronize(self, result: Any) -> None:
        """Block until every array in ``result`` (an array, a pytree or ``Grads``) is ready."""
        if isinstance(result, Grads):
            result = [g for _, g in result.items()]
        self.jax.block_until_ready(result)

    def warm_up(
        self, inputs: Inputs[Any], *, activation: str, truncate: int | None = None
    ) -> float:
        """AOT-compile ``unroll`` and ``bptt`` for these inputs; seconds spent compiling."""
        p = inputs.params
        weights = (p.W_xh, p.W_hh, p.b)
        k = self._window(truncate, inputs.xs.shape[0])
        with self._x64(p.W_xh):
            _, unroll_s = self._executable(
                _unroll_program, activation, None, (*weights, inputs.xs, inputs.h0)
            )
            _, bptt_s = self._executable(
                _bptt_program, activation, k, (*weights, inputs.xs, inputs.h0, inputs.dhs)
            )
        return unroll_s + bptt_s

    @staticmethod
    def _window(truncate: int | None, T: int) -> int | None:
        """The truncation window, None when it covers the whole sequence."""
        return None if truncate is None or truncate >= T else truncate

    def _run(self, program: Callable, activation: str, k: int | None, args: tuple) -> Any:
        with self._x64(args[0]):
            return self._executable(program, activation, k, args)[0](*args)

    def _cell(self, params: Params[Any], x_t: Any, h_prev: Any, activation: str) -> Any:
        """h_t (B, H) from x_t (B, D) and h_prev (B, H)."""
        args = (params.W_xh, params.W_hh, params.b, x_t, h_prev)
        return self._run(_cell_program, activation, None, args)

    def _unroll(self, params: Params[Any], xs: Any, h0: Any, activation: str) -> Any:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
        args = (params.W_xh, params.W_hh, params.b, xs, h0)
        return self._run(_unroll_program, activation, None, args)

    def _bptt(
        self, params: Params[Any], xs: Any, h0: Any, dhs: Any, activation: str, truncate: int | None
    ) -> Grads[Any]:
        """Gradients (shapes as ``Grads``) of sum_t <dhs_t, h_t>; see the class docstring."""
        args = (params.W_xh, params.W_hh, params.b, xs, h0, dhs)
        k = self._window(truncate, xs.shape[0])
        g = self._run(_bptt_program, activation, k, args)
        return Grads(W_xh=g[0], W_hh=g[1], b=g[2], h0=g[3], xs=g[4], hs=g[5])
