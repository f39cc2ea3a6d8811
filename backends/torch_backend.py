"""Three PyTorch backends: autograd over a Python loop, the hand-written BPTT, and nn.RNN.

* ``torch`` (``TorchAutogradBackend``): the cell in torch ops unrolled in a Python loop,
  every gradient from one ``torch.autograd.grad`` call.
* ``torch-manual`` (``TorchManualBackend``): ``rnnbench.reference.elman`` on torch tensors
  under ``torch.no_grad()``, the same algorithm and hoisted GEMMs as the NumPy reference.
* ``torch-nn`` (``TorchNNRNNBackend``): the fused ``torch.nn.RNN`` (cuDNN on a GPU), gradients
  by autograd; tanh and relu only, no truncation.

Per-step adjoints dL/dh_t come from the perturbation trick: a zero tensor eps (T, B, H) is
added to every state h_t the forward produces, so dL/d eps_t = dL/dh_t.

torch is imported when a backend is constructed, never when this module is imported.
Every hook runs with float32 matmul precision pinned to full IEEE float32 (no TF32 on CUDA
matmuls or cuDNN RNNs, no bf16 in oneDNN), restored on exit, so no setting leaks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from rnnbench.errors import FrameworkMissingError
from rnnbench.interface import Backend, Grads, Inputs, Params
from rnnbench.reference import elman


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
    """What the three torch backends share: device, conversion, precision, cell, warm-up."""

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
        p = inputs.params
        self.synchronize(self.unroll(p, inputs.xs, inputs.h0, activation=activation))
        grads = self.bptt(
            p, inputs.xs, inputs.h0, inputs.dhs, activation=activation, truncate=truncate
        )
        self.synchronize(grads)
        return 0.0

    def _cell(self, params: Params[Any], x_t: Any, h_prev: Any, activation: str) -> Any:
        """h_t (B, H) from x_t (B, D) and h_prev (B, H)."""
        with self._exact(), self.torch.no_grad():
            return elman.cell(self.ops, params, x_t, h_prev, activation)


def _project(xs: Any, W_xh: Any, b: Any) -> Any:
    """The hoisted input projection: xs (T, B, D) -> xs @ W_xh + b (T, B, H), one GEMM."""
    T, B, D = xs.shape
    return (xs.reshape(T * B, D) @ W_xh + b).reshape(T, B, -1)


class TorchAutogradBackend(_TorchBackend):
    """The cell in torch ops, unrolled in a Python loop; gradients by autograd.

    Full BPTT: the input projection is one GEMM, then ``h_t = f(addmm(pre_t, h_{t-1},
    W_hh)) + eps_t`` for t = 0..T-1 with eps (T, B, H) a zero leaf; one ``autograd.grad`` of
    the stacked states (T, B, H) against dhs gives the five gradients and dL/d eps = the
    adjoints. Per-step slices come from ``unbind`` (one backward node, not T).

    Truncated BPTT (k < T) by *streams*, as explained in ``rnnbench.reference``: T streams
    of k cells batched as one (T, B, H) state in a Python loop, the start states detached.
    """

    name = "torch"

    def _loop(self, pre: Any, h: Any, W_hh: Any, activation: str, eps: Any = None) -> Any:
        """States (T, B, H) from pre (T, B, H) and h0 (B, H); eps (T, B, H) added if given."""
        torch = self.torch
        steps = []
        eps_steps = eps.unbind(0) if eps is not None else None
        for t, pre_t in enumerate(pre.unbind(0)):
            h = _activation(torch, activation, torch.addmm(pre_t, h, W_hh))
            if eps_steps is not None:
                h = h + eps_steps[t]
            steps.append(h)
        return torch.stack(steps)

    def _streams(self, pre: Any, h0: Any, W_hh: Any, activation: str, eps: Any, k: int) -> Any:
        """Final states (T, B, H) of the T truncated streams of k cells (class docstring)."""
        torch = self.torch
        T = pre.shape[0]
        with torch.no_grad():
            hs = self._loop(pre, h0, W_hh, activation)
        s = torch.arange(T, device=pre.device)
        cells = s - k + 1 + torch.arange(k, device=pre.device)[:, None]  # (k, T)
        active = (cells >= 0)[:, :, None, None]
        cells = cells.clamp(min=0)
        h = torch.where((s >= k)[:, None, None], hs[(s - k).clamp(min=0)], h0)
        for pre_j, eps_j, active_j in zip(
            pre[cells].unbind(0), eps[cells].unbind(0), active.unbind(0), strict=True
        ):
            h_next = _activation(torch, activation, pre_j + h @ W_hh) + eps_j
            h = torch.where(active_j, h_next, h)
        return h

    def _unroll(self, params: Params[Any], xs: Any, h0: Any, activation: str) -> Any:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
        with self._exact(), self.torch.no_grad():
            pre = _project(xs, params.W_xh, params.b)
            return self._loop(pre, h0, params.W_hh, activation)

    def _bptt(
        self, params: Params[Any], xs: Any, h0: Any, dhs: Any, activation: str, truncate: int | None
    ) -> Grads[Any]:
        """Gradients (shapes as ``Grads``) of sum_t <dhs_t, h_t>; see the class docstring."""
        torch = self.torch
        T = xs.shape[0]
        leaves = [a.detach().requires_grad_() for a in (params.W_xh, params.W_hh, params.b, h0, xs)]
        W_xh, W_hh, b, h0_, xs_ = leaves
        eps = torch.zeros_like(dhs, requires_grad=True)
        with self._exact(), torch.enable_grad():
            pre = _project(xs_, W_xh, b)
            if truncate is None or truncate >= T:
                hs = self._loop(pre, h0_, W_hh, activation, eps)
            else:
                hs = self._streams(pre, h0_, W_hh, activation, eps, truncate)
            g = torch.autograd.grad(hs, [*leaves, eps], grad_outputs=dhs)
        return Grads(W_xh=g[0], W_hh=g[1], b=g[2], h0=g[3], xs=g[4], hs=g[5])


class TorchManualBackend(_TorchBackend):
    """``rnnbench.reference.elman`` (forward and hand-written BPTT, truncation included) on
    torch tensors under ``torch.no_grad()``: the NumPy reference's algorithm and GEMMs."""

    name = "torch-manual"

    def _unroll(self, params: Params[Any], xs: Any, h0: Any, activation: str) -> Any:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
        with self._exact(), self.torch.no_grad():
            return elman.unroll(self.ops, params, xs, h0, activation)

    def _bptt(
        self, params: Params[Any], xs: Any, h0: Any, dhs: Any, activation: str, truncate: int | None
    ) -> Grads[Any]:
        """Gradients (shapes as ``Grads``) of sum_t <dhs_t, h_t>, full or truncated."""
        with self._exact(), self.torch.no_grad():
            return Grads(**elman.gradients(self.ops, params, xs, h0, dhs, activation, truncate))


class TorchNNRNNBackend(_TorchBackend):
    """``torch.nn.RNN`` (one layer, cuDNN on a GPU); gradients by autograd.

    nn.RNN computes ``f(x W_ih^T + b_ih + h W_hh^T + b_hh)``; the shared parameters are
    copied in as weight_ih_l0 = W_xh^T (H, D), weight_hh_l0 = W_hh^T, bias_ih_l0 = b,
    bias_hh_l0 = 0. Modules are built once per (input size, H, activation, dtype), with no
    random initialisation (so torch's RNG is untouched), and reused; each call copies the
    parameters in (O(H (D + H)), negligible beside the run).

    Adjoints: nn.RNN keeps its states internal, so a perturbation cannot be added to h_t
    directly. It is fed through the input instead: for ``bptt`` the module takes the input
    [x_t, eps_{t-1}] (T, B, D + H) with weight_ih_l0 = [W_xh; W_hh]^T (H, D + H) and
    eps_{-1} = 0, so cell t sees h_{t-1} + eps_{t-1}; the loss is taken on out_t + eps_t.
    Then dL/d eps_t = dL/dh_t exactly, all from one fused nn.RNN call and one
    ``autograd.grad``. The price is a wider input GEMM (D + H instead of D columns) in the
    forward and backward; it is a single hoisted GEMM each way, much cheaper than a second,
    step-by-step pass for the adjoints. ``unroll`` and ``cell`` use a plain D-input module.
    """

    name = "torch-nn"
    activations = frozenset({"tanh", "relu"})
    supports_truncation = False

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._modules: dict[tuple[int, int, str, Any], Any] = {}

    def _rnn(self, W_ih_T: Any, W_hh: Any, b: Any, activation: str) -> Any:
        """The cached nn.RNN for (input size, H, activation, dtype), loaded with
        weight_ih_l0 = W_ih_T^T, weight_hh_l0 = W_hh^T, bias_ih_l0 = b, bias_hh_l0 = 0."""
        torch = self.torch
        key = (W_ih_T.shape[0], W_hh.shape[0], activation, W_hh.dtype)
        rnn = self._modules.get(key)
        if rnn is None:
            rnn = torch.nn.RNN(
                key[0], key[1], nonlinearity=activation, dtype=key[3], device="meta"
            ).to_empty(device=self._device)
            rnn.flatten_parameters()
            self._modules[key] = rnn
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(W_ih_T.T)
            rnn.weight_hh_l0.copy_(W_hh.T)
            rnn.bias_ih_l0.copy_(b)
            rnn.bias_hh_l0.zero_()
        return rnn

    def _cell(self, params: Params[Any], x_t: Any, h_prev: Any, activation: str) -> Any:
        """h_t (B, H) from x_t (B, D) and h_prev (B, H): the module over one step."""
        return self._unroll(params, x_t[None], h_prev, activation)[0]

    def _unroll(self, params: Params[Any], xs: Any, h0: Any, activation: str) -> Any:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H)."""
        with self._exact(), self.torch.no_grad():
            rnn = self._rnn(params.W_xh, params.W_hh, params.b, activation)
            return rnn(xs, h0[None])[0]

    def _bptt(
        self, params: Params[Any], xs: Any, h0: Any, dhs: Any, activation: str, truncate: int | None
    ) -> Grads[Any]:
        """Gradients (shapes as ``Grads``) of sum_t <dhs_t, h_t>; see the class docstring."""
        torch = self.torch
        D = xs.shape[2]
        xs_ = xs.detach().requires_grad_()
        h0_ = h0.detach().requires_grad_()
        eps = torch.zeros_like(dhs, requires_grad=True)
        with self._exact():
            W_ih_T = torch.cat([params.W_xh, params.W_hh])  # (D + H, H)
            rnn = self._rnn(W_ih_T, params.W_hh, params.b, activation)
            with torch.enable_grad():
                eps_prev = torch.cat([torch.zeros_like(eps[:1]), eps[:-1]])
                out = rnn(torch.cat([xs_, eps_prev], dim=2), h0_[None])[0]
                weights = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0]
                g = torch.autograd.grad(out + eps, [*weights, h0_, xs_, eps], grad_outputs=dhs)
        return Grads(W_xh=g[0][:, :D].T, W_hh=g[1].T, b=g[2], h0=g[3], xs=g[4], hs=g[5])
