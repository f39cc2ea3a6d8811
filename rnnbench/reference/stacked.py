"""The GEMM over the stacked steps that every cell's BPTT shares."""

from __future__ import annotations

from typing import Any


def recurrent_weight_gradient(h0: Any, hs: Any, deltas: Any) -> Any:
    """dL/dW_h (H, G*H) = sum_t h_{t-1}^T delta_t from h0 (B, H), the states hs (T, B, H)
    and the recurrent product's deltas (T, B, G*H): one GEMM over the steps 2..T."""
    T, B, H = hs.shape
    width = deltas.shape[2]
    gradient = h0.T @ deltas[0]
    if T > 1:
        stacked = hs[:-1].reshape((T - 1) * B, H).T @ deltas[1:].reshape((T - 1) * B, width)
        gradient = gradient + stacked
    return gradient
