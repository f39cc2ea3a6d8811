"""The fused PyTorch layers as one backend, ``torch-nn``: ``torch.nn.RNN`` for the elman
cell, ``torch.nn.LSTM`` and ``torch.nn.GRU`` for the gated ones (cuDNN on a GPU, oneDNN or
ATen kernels on the CPU), gradients by autograd.

Weights map onto the row convention exactly (PyTorch stores the transpose, gates in the same
order): weight_ih_l0 = W^T (G*H, D), weight_hh_l0 = W_h^T (G*H, H); the elman and LSTM
cells have one bias, so bias_ih_l0 = b and bias_hh_l0 = 0; the GRU has two,
bias_ih_l0 = b_x and bias_hh_l0 = b_h, and nn.GRU applies the reset after the recurrent
product as rnnbench's GRU does. Modules are built once per (kind, input size, H,
activation, dtype), with no random initialisation (so torch's RNG is untouched), and reused;
each call copies the parameters in (O(G H (D + H)), negligible beside the run).

Adjoints, and what the fused kernels cannot give:

* dL/dh_t (elman, LSTM): the layer keeps its states internal, so a perturbation cannot be
  added to h_t directly. It is fed through the input: for ``bptt`` the layer takes the input
  [x_t, eps_{t-1}] (T, B, D + H) with weight_ih_l0 = [W; W_h]^T, so every gate of cell t
  sees h_{t-1} + eps_{t-1}; the loss is taken on out_t + eps_t. Then dL/d eps_t = dL/dh_t
  exactly, from one fused call and one ``autograd.grad``, for the price of a wider input
  GEMM (D + H columns instead of D).
* dL/dh_t (GRU): not available. The reset multiplies only the recurrent product of the n
  gate, so a perturbation fed through the input would enter n unreset: the trick is not
  exact, and the kernel has no other way in. ``missing_adjoints`` declares it.
* dL/dc_t (LSTM): not available; c_t never leaves the kernel (only c_T does). Declared.
* The LSTM's c cotangents: only at the last step (through c_T); a dcs that is non-zero
  before it is refused.
* ``states`` of the LSTM (every c_t) runs the layer one step at a time: it is not the fused
  path, and ``unroll`` does not use it.
No truncation: the fused kernels run the whole sequence.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rnnbench_backends.torch_backend import _TorchBackend

from rnnbench.cells import CELL_NAMES
from rnnbench.errors import UnsupportedError
from rnnbench.interface import Grads, Params

#: the torch.nn layer of each cell
LAYERS = {"elman": "RNN", "lstm": "LSTM", "gru": "GRU"}


class TorchNNBackend(_TorchBackend):
    """``torch.nn.RNN``/``LSTM``/``GRU`` (one layer); see the module docstring."""

    name = "torch-nn"
    activations = frozenset({"tanh", "relu"})
    cells = frozenset(CELL_NAMES)
    missing_adjoints: ClassVar[dict[str, frozenset[str]]] = {
        "lstm": frozenset({"cs"}),
        "gru": frozenset({"hs"}),
    }
    supports_truncation = False

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._modules: dict[tuple[Any, ...], Any] = {}

    def _layer(self, params: Params[Any], W_in: Any, activation: str) -> Any:
        """The cached layer for the cell, (input size, H, activation, dtype), loaded with
        weight_ih_l0 = W_in^T, weight_hh_l0 = W_h^T and the biases (module docstring)."""
        torch = self.torch
        cell = params.cell.name
        _, W_h, *biases = params.values()
        key = (cell, W_in.shape[0], W_h.shape[0], activation, W_h.dtype)
        layer = self._modules.get(key)
        if layer is None:
            kind = getattr(torch.nn, LAYERS[cell])
            extra = {"nonlinearity": activation} if cell == "elman" else {}
            layer = kind(key[1], key[2], dtype=key[4], device="meta", **extra)
            layer = layer.to_empty(device=self._device)
            layer.flatten_parameters()
            self._modules[key] = layer
        with torch.no_grad():
            layer.weight_ih_l0.copy_(W_in.T)
            layer.weight_hh_l0.copy_(W_h.T)
            layer.bias_ih_l0.copy_(biases[0])
            if len(biases) > 1:
                layer.bias_hh_l0.copy_(biases[1])
            else:
                layer.bias_hh_l0.zero_()
        return layer

    def _run(self, layer: Any, xs: Any, h0: Any, c0: Any) -> tuple[Any, Any, Any]:
        """(out (T, B, H), h_T, c_T or None) of the layer from (h0, c0)."""
        if c0 is None:
            out, h_n = layer(xs, h0[None])
            return out, h_n[0], None
        out, (h_n, c_n) = layer(xs, (h0[None], c0[None]))
        return out, h_n[0], c_n[0]

    def _cell(self, params: Params[Any], x_t: Any, h_prev: Any, activation: str, **state):
        """h_t (B, H) (LSTM: (h_t, c_t)): the layer over one step."""
        with self._exact(), self.torch.no_grad():
            layer = self._layer(params, next(iter(params.values())), activation)
            out, _, c = self._run(layer, x_t[None], h_prev, state.get("c_prev"))
        return out[0] if c is None else (out[0], c)

    def _unroll(self, params: Params[Any], xs: Any, h0: Any, activation: str, **state0) -> Any:
        """hs (T, B, H) from xs (T, B, D) and h0 (B, H): one fused call."""
        with self._exact(), self.torch.no_grad():
            layer = self._layer(params, next(iter(params.values())), activation)
            return self._run(layer, xs, h0, state0.get("c0"))[0]

    def _states(self, params: Params[Any], xs: Any, h0: Any, activation: str, **state0):
        """{"hs"}; for the LSTM also "cs", from the layer run one step at a time."""
        if "c0" not in state0:
            return {"hs": self._unroll(params, xs, h0, activation)}
        hs, cs = [], []
        h, c = h0, state0["c0"]
        for x_t in xs.unbind(0):
            h, c = self._cell(params, x_t, h, activation, c_prev=c)
            hs.append(h)
            cs.append(c)
        return {"hs": self.torch.stack(hs), "cs": self.torch.stack(cs)}

    def _bptt(
        self, params: Params[Any], xs: Any, h0: Any, dhs: Any, activation: str, truncate, **state
    ):
        """Gradients (names and shapes as ``Grads``, less the declared missing adjoints)."""
        torch = self.torch
        cell = params.cell.name
        D = xs.shape[2]
        c0, dcs = state.get("c0"), state.get("dcs")
        if dcs is not None and bool(dcs[:-1].any()):
            raise UnsupportedError(
                "backend 'torch-nn' takes the LSTM's c cotangents only at the last step: "
                "the fused kernel returns c_T alone"
            )
        W_in, W_h = list(params.values())[:2]
        xs_ = xs.detach().requires_grad_()
        initial = [h0.detach().requires_grad_()]
        if c0 is not None:
            initial.append(c0.detach().requires_grad_())
        with self._exact():
            with torch.no_grad():
                through_input = cell != "gru"
                W_ih = torch.cat([W_in, W_h]) if through_input else W_in  # (D [+ H], G*H)
                layer = self._layer(params, W_ih, activation)
            with torch.enable_grad():
                eps = torch.zeros_like(dhs, requires_grad=through_input)
                inputs = xs_
                if through_input:
                    eps_prev = torch.cat([torch.zeros_like(eps[:1]), eps[:-1]])
                    inputs = torch.cat([xs_, eps_prev], dim=2)
                out, _, c_n = self._run(layer, inputs, *initial, *([None] * (2 - len(initial))))
                outputs, cotangents = [out + eps], [dhs]
                if dcs is not None:
                    outputs.append(c_n)
                    cotangents.append(dcs[-1])
                weights = [layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0]
                if cell == "gru":
                    weights.append(layer.bias_hh_l0)
                wrt = [*weights, *initial, xs_] + ([eps] if through_input else [])
                g = torch.autograd.grad(outputs, wrt, grad_outputs=cotangents)
        names = list(params)
        grads = {
            names[0]: g[0][:, :D].T,
            names[1]: g[1].T,
            **dict(zip(names[2:], g[2 : len(weights)], strict=True)),
        }
        rest = g[len(weights) :]
        grads.update(zip(params.cell.initial_names, rest[: len(initial)], strict=True))
        grads["xs"] = rest[len(initial)]
        if through_input:
            grads["hs"] = rest[len(initial) + 1]
        return Grads(**grads)
