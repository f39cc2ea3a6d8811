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

from rnnbench.cells import CELL_NAMES, get_cell
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


def _project(W: Any, b: Any, xs: Any) -> Any:
    """The hoisted input projection: xs (T, B, D) -> xs @ W + b (T, B, G*H), one GEMM."""
    T, B, D = xs.shape
    return (_dot(xs.reshape(T * B, D), W) + b).reshape(T, B, -1)


def _step(cell: str, activation: str, W_h: Any, b_h: Any, pre: Any, gh: Any, state, eps):
    """One cell: the next state tuple ((h,) or (h, c)) from the projected input pre and
    the recurrent product gh = h @ W_h (+ b_h, GRU), (..., B, G*H); each part plus its
    perturbation eps (arrays or None)."""
    import jax
    import jax.numpy as jnp

    h = state[0]
    if cell == "lstm":
        i, f, g, o = jnp.split(pre + gh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * state[1] + jax.nn.sigmoid(i) * jnp.tanh(g)
        c = c if eps[1] is None else c + eps[1]
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h if eps[0] is None else h + eps[0], c)
    if cell == "gru":
        xr, xz, xn = jnp.split(pre, 3, axis=-1)
        hr, hz, hn = jnp.split(gh, 3, axis=-1)
        r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * hn)
        h = n + z * (h - n)
    else:
        h = _activation(activation, pre + gh)
    return (h if eps[0] is None else h + eps[0],)


def _scan(cell, activation, W_h, b_h, pre, state0, eps=None, zeta=None):
    """Every state part per step, (T, B, H) each; eps (per part, (T, B, H)) and zeta
    (T, B, G*H), added to the recurrent products, are zero perturbations or None."""
    import jax

    def step(state, inputs):
        pre_t, eps_t, zeta_t = inputs
        gh = _dot(state[0], W_h) + b_h
        gh = gh if zeta_t is None else gh + zeta_t
        eps_t = eps_t if eps_t is not None else (None,) * len(state)
        state = _step(cell, activation, W_h, b_h, pre_t, gh, state, eps_t)
        return state, state

    return jax.lax.scan(step, tuple(state0), (pre, eps, zeta))[1]


def _streams(cell, activation, k, W_h, b_h, pre, state0, eps, zeta, *, forward):
    """Final states, per part (T, B, H), of the T truncated streams of k cells (see
    ``JaxBackend``); ``forward`` the forward states per part."""
    import jax
    import jax.numpy as jnp

    T = pre.shape[0]
    s = jnp.arange(T)
    cells = s - k + 1 + jnp.arange(k)[:, None]  # (k, T): the cell stream s runs at step j
    active = (cells >= 0)[:, :, None, None]
    cells = jnp.maximum(cells, 0)
    late = (s >= k)[:, None, None]
    start = tuple(
        jnp.where(late, f[jnp.maximum(s - k, 0)], p0) for f, p0 in zip(forward, state0, strict=True)
    )

    def step(state, inputs):
        pre_j, eps_j, zeta_j, active_j = inputs
        gh = _dot(state[0], W_h) + b_h + zeta_j
        moved = _step(cell, activation, W_h, b_h, pre_j, gh, state, eps_j)
        return tuple(jnp.where(active_j, m, p) for m, p in zip(moved, state, strict=True)), None

    eps_cells = tuple(e[cells] for e in eps)
    return jax.lax.scan(step, start, (pre[cells], eps_cells, zeta[cells], active))[0]


def _split(cell: str, arrays: tuple) -> tuple[tuple, Any, tuple]:
    """(parameters in the cell's order, xs, the rest) of a program's flat arguments."""
    n = len(get_cell(cell).params)
    return arrays[:n], arrays[n], arrays[n + 1 :]


def _recurrent(cell: str, params: tuple) -> tuple[Any, Any]:
    """(W_h, b_h): the recurrent weight and the recurrent-side bias (0 but for the GRU)."""
    return params[1], params[3] if cell == "gru" else 0.0


def _cell_program(static, k: None, *arrays):
    """h_t (B, H) (LSTM: (h_t, c_t)) from x_t (B, D) and the previous state."""
    cell, activation = static
    params, x_t, state = _split(cell, arrays)
    W_h, b_h = _recurrent(cell, params)
    pre = _dot(x_t, params[0]) + params[2]
    out = _step(cell, activation, W_h, b_h, pre, _dot(state[0], W_h) + b_h, state, (None,) * 2)
    return out if cell == "lstm" else out[0]


def _states_program(static, k: None, *arrays):
    """Every state part per step, (T, B, H) each, from xs (T, B, D) and the initial state."""
    cell, activation = static
    params, xs, state0 = _split(cell, arrays)
    W_h, b_h = _recurrent(cell, params)
    return _scan(cell, activation, W_h, b_h, _project(params[0], params[2], xs), state0)


def _unroll_program(static, k: None, *arrays):
    """hs (T, B, H) from xs (T, B, D) and the initial state."""
    return _states_program(static, k, *arrays)[0]


def _bptt_program(static, k: int | None, *arrays):
    """Every gradient, in ``Cell.grad_names`` order; k None is full BPTT. See
    ``JaxBackend`` for the two chained VJPs."""
    import jax
    import jax.numpy as jnp

    cell, activation = static
    params, xs, rest = _split(cell, arrays)
    parts = len(get_cell(cell).state)
    state0, cotangents = rest[:parts], rest[parts:]
    if len(cotangents) < parts:  # the LSTM without dcs: zero cotangents of c
        cotangents = (*cotangents, jnp.zeros_like(cotangents[0]))
    W_h, b_h = _recurrent(cell, params)
    T, B, _ = xs.shape
    H = W_h.shape[0]
    pre, project_vjp = jax.vjp(_project, params[0], params[2], xs)
    eps = tuple(jnp.zeros_like(c) for c in cotangents)
    zeta = jnp.zeros_like(pre)

    forward = None if k is None else _scan(cell, activation, W_h, b_h, pre, state0)

    def recurrence(pre, state0, eps, zeta):
        if k is None:
            return _scan(cell, activation, W_h, b_h, pre, state0, eps, zeta)
        return _streams(cell, activation, k, W_h, b_h, pre, state0, eps, zeta, forward=forward)

    states, recurrence_vjp = jax.vjp(recurrence, pre, tuple(state0), eps, zeta)
    dpre, dstate0, adjoints, dzeta = recurrence_vjp(tuple(cotangents))
    hs = states[0] if k is None else forward[0]
    previous = jnp.concatenate([state0[0][None], hs[:-1]]).reshape(T * B, H)
    dW_h = _dot(previous.T, dzeta.reshape(T * B, -1))
    dW_x, db, dxs = project_vjp(dpre)
    recurrent_bias = (dzeta.sum((0, 1)),) if cell == "gru" else ()
    return (dW_x, dW_h, db, *recurrent_bias, *dstate0, dxs, *adjoints)


class JaxBackend(Backend[Any]):
    """``lax.scan`` under ``jit``; gradients by ``jax.vjp`` (see the module docstring).

    The input projection ``xs.reshape(T*B, D) @ W + b`` (W_xh, or W_x for a gated cell) is
    one GEMM before the scan. ``bptt`` chains two VJPs: the recurrence's, (pre, initial
    state, eps, zeta) -> states with W_h held fixed, gives dL/dpre (T, B, G*H), the initial
    state's gradients, the adjoints, and dL/dzeta, where zeta (T, B, G*H) is a zero
    perturbation added to every recurrent product h_{t-1} @ W_h (+ b_h); the projection's,
    fed dL/dpre, gives dW, db and dxs (one GEMM each). dW_h = [h0; hs[:-1]]^T @ dL/dzeta
    is then one (H, T*B) @ (T*B, G*H) GEMM (and the GRU's db_h the sum of dL/dzeta), where
    differentiating W_h through the scan would accumulate it from T small GEMMs inside the
    backward loop (slower, notably at small B).

    Adjoints: a zero eps (T, B, H) per state part is added to every state in the scan (the
    LSTM's to c_t before h_t is computed from it) and differentiated with the rest, so
    dL/d eps_t is the adjoint.

    Truncated BPTT (k < T) by *streams*, as explained in ``rnnbench.reference``: T streams
    of k cells batched into one (T, B, H) carry per state part of a ``lax.scan``, the start
    states constants of the recurrence's VJP.
    """

    name = "jax"
    cells = frozenset(CELL_NAMES)
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

    def _executable(self, program: Callable, static: tuple, k: int | None, args: tuple):
        """(compiled ``program`` for these arguments, seconds spent compiling it now);
        ``static``: (cell, activation)."""
        jax = self.jax
        key = (program.__name__, static, k, *((a.shape, str(a.dtype)) for a in args))
        key = (*key, self._jax_device)
        compiled = _COMPILED.get(key)
        if compiled is not None:
            return compiled, 0.0
        sharding = jax.sharding.SingleDeviceSharding(self._jax_device)
        specs = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding) for a in args]
        start = time.perf_counter()
        compiled = jax.jit(functools.partial(program, static, k)).lower(*specs).compile()
        seconds = time.perf_counter() - start
        _COMPILED[key] = compiled
        return compiled, seconds

    def to_native(self, array: np.ndarray) -> Any:
        """A copy of ``array`` on the backend's device, same dtype."""
        with self._x64(array):
            return self.jax.device_put(np.array(array, copy=True), self._jax_device)

    def native_type(self) -> type:
        """``jax.Array``, every JAX array's type."""
        return self.jax.Array

    def to_numpy(self, array: Any) -> np.ndarray:
        """A NumPy copy of a JAX array."""
        return np.array(array, copy=True)

    def synchronize(self, result: Any) -> None:
        """Block until every array in ``result`` (an array, a pytree or ``Grads``) is ready."""
        if isinstance(result, Grads):
            result = list(result.values())
        self.jax.block_until_ready(result)

    def warm_up(
        self, inputs: Inputs[Any], *, activation: str, truncate: int | None = None
    ) -> float:
        """AOT-compile ``unroll`` and ``bptt`` for these inputs; seconds spent compiling."""
        i = inputs
        static = (i.params.cell.name, activation)
        state0 = (i.h0, *i.state0.values())
        args = (*i.params.values(), i.xs, *state0)
        k = self._window(truncate, i.xs.shape[0])
        with self._x64(i.xs):
            _, unroll_s = self._executable(_unroll_program, static, None, args)
            _, bptt_s = self._executable(_bptt_program, static, k, (*args, i.dhs))
        return unroll_s + bptt_s

    def bptt_memory_bytes(
        self, inputs: Inputs[Any], *, activation: str, truncate: int | None = None
    ) -> int | None:
        """Temporaries plus outputs (less outputs aliased to arguments) of the compiled BPTT
        program for these inputs, from XLA's memory analysis (None if XLA gives none)."""
        i = inputs
        static = (i.params.cell.name, activation)
        args = (*i.params.values(), i.xs, i.h0, *i.state0.values(), i.dhs)
        k = self._window(truncate, i.xs.shape[0])
        with self._x64(i.xs):
            compiled, _ = self._executable(_bptt_program, static, k, args)
        stats = compiled.memory_analysis()
        if stats is None:
            return None
        return stats.temp_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes

    @staticmethod
    def _window(truncate: int | None, T: int) -> int | None:
        """The truncation window, None when it covers the whole sequence."""
        return None if truncate is None or truncate >= T else truncate

    def _run(self, program: Callable, static: tuple, k: int | None, args: tuple) -> Any:
        with self._x64(args[0]):
            return self._executable(program, static, k, args)[0](*args)

    def _cell(self, params: Params[Any], x_t: Any, h_prev: Any, activation: str, **state):
        """h_t (B, H) (LSTM: (h_t, c_t)) from x_t (B, D) and h_prev (B, H)."""
        args = (*params.values(), x_t, h_prev, *state.values())
        return self._run(_cell_program, (params.cell.name, activation), None, args)

    def _unroll(self, params: Params[Any], xs: Any, h0: Any, activation: str, **state0) -> Any:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
        args = (*params.values(), xs, h0, *state0.values())
        return self._run(_unroll_program, (params.cell.name, activation), None, args)

    def _states(self, params: Params[Any], xs: Any, h0: Any, activation: str, **state0):
        """{"hs"} (LSTM: and "cs"), (T, B, H) each."""
        args = (*params.values(), xs, h0, *state0.values())
        parts = self._run(_states_program, (params.cell.name, activation), None, args)
        return dict(zip(("hs", "cs")[: len(parts)], parts, strict=True))

    def _bptt(
        self, params: Params[Any], xs: Any, h0: Any, dhs: Any, activation: str, truncate, **state
    ):
        """Gradients (names and shapes as ``Grads``); see the class docstring."""
        cell = params.cell
        state0 = (h0,) if "c0" not in state else (h0, state["c0"])
        dcs = () if state.get("dcs") is None else (state["dcs"],)
        args = (*params.values(), xs, *state0, dhs, *dcs)
        k = self._window(truncate, xs.shape[0])
        g = self._run(_bptt_program, (cell.name, activation), k, args)
        return Grads(**dict(zip(cell.grad_names, g, strict=True)))
