"""Two PyTorch backends over every cell: autograd over a Python loop, and the hand-written
BPTT; plus what the fused ``torch-nn`` backend (``torch_nn_backend``) shares with them.

* ``torch`` (``TorchAutogradBackend``): the cell in torch ops unrolled in a Python loop,
  every gradient from one ``torch.autograd.grad`` call.
* ``torch-manual`` (``TorchManualBackend``): ``rnnbench.reference.algorithms`` on torch
  tensors under ``torch.no_grad()``, the same algorithms and hoisted GEMMs as the NumPy
  reference.

Per-step adjoints come from the perturbation trick: a zero tensor eps (T, B, H) per state
part is added to every state the forward produces (for the LSTM, eps_c to c_t before h_t
is computed from it, so dL/d eps_c covers the path through h_t), so dL/d eps_t is the
adjoint of that part.

torch is imported when a backend is constructed, never when this module is imported.
Every hook runs with float32 matmul precision pinned to full IEEE float32 (no TF32 on CUDA
matmuls or cuDNN RNNs, no bf16 in oneDNN), restored on exit, so no setting leaks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from rnnbench.cells import CELL_NAMES
from rnnbench.errors import FrameworkMissingError
from rnnbench.interface import Backend, Grads, Inputs, Params
from rnnbench.reference import algorithms


def _activation(torch: Any, name: str, z: Any) -> Any:
    """f(z) elementwise for a tensor z of any shape."""
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "relu":
        return torch.relu(z)
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}")


class TorchOps:
    """``rnnbench.reference.ops.ArrayOps`` for torch tensors (dtype, device from ``like``)."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def activation(self, name: str, z: Any) -> Any:
        return _activation(self.torch, name, z)

    def activate_(self, name: str, z: Any) -> Any:
        if name in ("tanh", "sigmoid", "relu"):
            return getattr(z, f"{name}_")()
        if name == "identity":
            return z
        raise ValueError(f"unknown activation {name!r}")

    def add_matmul_(self, out: Any, a: Any, b: Any) -> Any:
        return out.addmm_(a, b)

    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        return self.torch.empty(shape, dtype=like.dtype, device=like.device)

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        return self.torch.zeros(shape, dtype=like.dtype, device=like.device)


def _precision_switches(torch: Any) -> list[tuple[Any, str, Any]]:
    """(owner, attribute, full-precision value) of every switch that may lower float32
    matmul precision: the per-backend ``fp32_precision`` settings of torch >= 2.9, else the
    legacy TF32 flags."""
    b = torch.backends
    if hasattr(b, "fp32_precision"):
        owners = (b.cuda.matmul, b.cudnn.rnn, b.mkldnn.matmul, b.mkldnn.rnn)
        return [(owner, "fp32_precision", "ieee") for owner in owners]
    return [(b.cuda.matmul, "allow_tf32", False), (b.cudnn, "allow_tf32", False)]


@contextlib.contextmanager
def _full_float32(switches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Set every switch to full precision for the block, then restore what was there."""
    changed = []
    try:
        for owner, attr, value in switches:
            old = getattr(owner, attr)
            if old != value:
                setattr(owner, attr, value)
                changed.append((owner, attr, old))
        yield
    finally:
        for owner, attr, old in reversed(changed):
            setattr(owner, attr, old)


class _TorchBackend(Backend[Any]):
    """What the torch backends share: device, conversion, precision, cell, warm-up."""

    cells = frozenset(CELL_NAMES)
    devices = frozenset({"cpu", "cuda"})
    requires = ("torch",)
    install_hint = "pip install 'rnnbench[torch]'"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise FrameworkMissingError(
                f"torch {torch.__version__} sees no CUDA device (CUDA build: "
                f"{torch.version.cuda}), so backend {self.name!r} cannot run on device='cuda'"
            )
        self.torch = torch
        self.ops = TorchOps(torch)
        self._device = torch.device(device)
        self._switches = _precision_switches(torch)

    def _exact(self) -> contextlib.AbstractContextManager[None]:
        """Full float32 matmul precision for the block (see the module docstring)."""
        return _full_float32(self._switches)

    def to_native(self, array: np.ndarray) -> Any:
        """A copy of ``array`` as a tensor on ``self.device``, same dtype."""
        return self.torch.tensor(np.ascontiguousarray(array), device=self._device)

    def to_numpy(self, array: Any) -> np.ndarray:
        """A NumPy copy of a tensor."""
        return array.detach().cpu().numpy().copy()

    def synchronize(self, result: Any) -> None:
        """Wait for queued CUDA work (a no-op on the CPU, where torch is synchronous)."""
        if self._device.type == "cuda":
            self.torch.cuda.synchronize(self._device)

    def warm_up(
        self, inputs: Inputs[Any], *, activation: str, truncate: int | None = None
    ) -> float:
        """Run ``unroll`` and ``bptt`` once (CUDA context, cuBLAS/cuDNN handles and plans,
        cached modules). Nothing is compiled, so 0.0 is returned."""
        i = inputs
        self.synchronize(self.unroll(i.params, i.xs, i.h0, activation=activation, **i.state0))
        grads = self.bptt(
            i.params, i.xs, i.h0, i.dhs, activation=activation, truncate=truncate, **i.state0
        )
        self.synchronize(grads)
        return 0.0

    def _cell(self, params: Params[Any], x_t: Any, h_prev: Any, activation: str, **state):
        """h_t (B, H) (LSTM: (h_t, c_t)) from x_t (B, D) and h_prev (B, H)."""
        with self._exact(), self.torch.no_grad():
            return algorithms.cell(self.ops, params, x_t, h_prev, activation, **state)


def _project(params: Params[Any], xs: Any) -> Any:
    """The hoisted input projection: xs (T, B, D) -> xs @ W + b (T, B, G*H), one GEMM, with
    the cell's input weight and input-side bias (its first and third parameters)."""
    T, B, D = xs.shape
    W, _, b = list(params.values())[:3]
    return (xs.reshape(T * B, D) @ W + b).reshape(T, B, -1)


def _step(torch: Any, params: Params[Any], activation: str, pre: Any, state: tuple, eps: tuple):
    """One cell on the projected input pre (..., B, G*H): the next state tuple ((h,) or
    (h, c)), each part plus its perturbation eps (zeros or None)."""
    cell = params.cell.name
    W = list(params.values())[1]
    h = state[0]
    rec = torch.addmm(pre, h, W) if h.dim() == 2 and cell != "gru" else None
    if cell == "lstm":
        a = rec if rec is not None else pre + h @ W
        i, f, g, o = a.chunk(4, dim=-1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        c = c if eps[1] is None else c + eps[1]
        h = torch.sigmoid(o) * torch.tanh(c)
        return (h if eps[0] is None else h + eps[0], c)
    if cell == "gru":
        xr, xz, xn = pre.chunk(3, dim=-1)
        hr, hz, hn = (h @ W + params.b_h).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = n + z * (h - n)
    else:
        h = _activation(torch, activation, rec if rec is not None else pre + h @ W)
    return (h if eps[0] is None else h + eps[0],)


class TorchAutogradBackend(_TorchBackend):
    """The cell in torch ops, unrolled in a Python loop; gradients by autograd.

    Full BPTT: the input projection is one GEMM, then the cell step by step, every state
    part plus a zero leaf eps (T, B, H); one ``autograd.grad`` of the stacked states against
    the cotangents (dhs, and dcs for the LSTM) gives every gradient, and dL/d eps the
    adjoints. Per-step slices come from ``unbind`` (one backward node, not T).

    Truncated BPTT (k < T) by *streams*, as explained in ``rnnbench.reference``: T streams
    of k cells batched as one (T, B, H) state per part in a Python loop, the start states
    detached.
    """

    name = "torch"

    def _loop(self, params, activation: str, pre: Any, state: tuple, eps: tuple) -> tuple:
        """Every state part per step, (T, B, H) each, from pre (T, B, G*H) and the initial
        state; eps: per part, (T, B, H) or None."""
        steps = []
        eps_steps = [e.unbind(0) if e is not None else None for e in eps]
        for t, pre_t in enumerate(pre.unbind(0)):
            eps_t = tuple(e[t] if e is not None else None for e in eps_steps)
            state = _step(self.torch, params, activation, pre_t, state, eps_t)
            steps.append(state)
        return tuple(self.torch.stack(part) for part in zip(*steps, strict=True))

    def _streams(self, params, activation: str, pre: Any, state0: tuple, eps: tuple, k: int):
        """Final states, per part (T, B, H), of the T truncated streams of k cells (class
        docstring)."""
        torch = self.torch
        T = pre.shape[0]
        with torch.no_grad():
            forward = self._loop(params, activation, pre, state0, (None,) * len(state0))
        s = torch.arange(T, device=pre.device)
        cells = s - k + 1 + torch.arange(k, device=pre.device)[:, None]  # (k, T)
        active = (cells >= 0)[:, :, None, None]
        cells = cells.clamp(min=0)
        late = (s >= k)[:, None, None]
        start = (s - k).clamp(min=0)
        state = tuple(
            torch.where(late, f[start], p0) for f, p0 in zip(forward, state0, strict=True)
        )
        eps_cells = [e[cells].unbind(0) for e in eps]
        for j, (pre_j, active_j) in enumerate(
            zip(pre[cells].unbind(0), active.unbind(0), strict=True)
        ):
            moved = _step(torch, params, activation, pre_j, state, tuple(e[j] for e in eps_cells))
            state = tuple(torch.where(active_j, m, p) for m, p in zip(moved, state, strict=True))
        return state

    def _states(self, params: Params[Any], xs: Any, h0: Any, activation: str, **state0):
        """{"hs"} (LSTM: and "cs"), (T, B, H) each, from xs (T, B, D) and h0 (B, H)."""
        with self._exact(), self.torch.no_grad():
            state = (h0, *state0.values())
            parts = self._loop(
                params, activation, _project(params, xs), state, (None,) * len(state)
            )
        return dict(zip(("hs", "cs")[: len(parts)], parts, strict=True))

    def _unroll(self, params: Params[Any], xs: Any, h0: Any, activation: str, **state0) -> Any:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
        return self._states(params, xs, h0, activation, **state0)["hs"]

    def _bptt(
        self, params: Params[Any], xs: Any, h0: Any, dhs: Any, activation: str, truncate, **state
    ):
        """Gradients (names and shapes as ``Grads``); see the class docstring."""
        torch = self.torch
        T = xs.shape[0]
        cell = params.cell
        c0 = state.get("c0")
        initial = [h0] if c0 is None else [h0, c0]
        leaves = [a.detach().requires_grad_() for a in (*params.values(), *initial, xs)]
        n_params = len(params)
        p = Params(**dict(zip(params, leaves[:n_params], strict=True)))
        state0 = tuple(leaves[n_params : n_params + len(initial)])
        eps = tuple(torch.zeros_like(dhs, requires_grad=True) for _ in initial)
        cotangents = (
            [dhs]
            if c0 is None
            else [dhs, state["dcs"] if state.get("dcs") is not None else torch.zeros_like(dhs)]
        )
        with self._exact(), torch.enable_grad():
            pre = _project(p, leaves[-1])
            if truncate is None or truncate >= T:
                outputs = self._loop(p, activation, pre, state0, eps)
            else:
                outputs = self._streams(p, activation, pre, state0, eps, truncate)
            g = torch.autograd.grad(outputs, [*leaves, *eps], grad_outputs=cotangents)
        return Grads(**dict(zip(cell.grad_names, g, strict=True)))


class TorchManualBackend(_TorchBackend):
    """``rnnbench.reference.algorithms`` (forward and hand-written BPTT, truncation
    included) on torch tensors under ``torch.no_grad()``: the NumPy reference's algorithms
    and GEMMs."""

    name = "torch-manual"

    def _states(self, params: Params[Any], xs: Any, h0: Any, activation: str, **state0):
        """{"hs"} (LSTM: and "cs"), (T, B, H) each, from xs (T, B, D) and h0 (B, H)."""
        with self._exact(), self.torch.no_grad():
            return algorithms.states(self.ops, params, xs, h0, activation, **state0)

    def _unroll(self, params: Params[Any], xs: Any, h0: Any, activation: str, **state0) -> Any:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
        return self._states(params, xs, h0, activation, **state0)["hs"]

    def _bptt(
        self, params: Params[Any], xs: Any, h0: Any, dhs: Any, activation: str, truncate, **state
    ):
        """Gradients (names and shapes as ``Grads``), full or truncated."""
        with self._exact(), self.torch.no_grad():
            return Grads(
                **algorithms.gradients(self.ops, params, xs, h0, dhs, activation, truncate, **state)
            )
