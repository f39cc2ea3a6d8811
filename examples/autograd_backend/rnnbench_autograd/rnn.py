"""The recurrent network in ``autograd.numpy``: cell, unroll and the loss that BPTT
differentiates. Importing this module imports autograd; the backend does so only when it
is constructed.

Every constant is a Python scalar or an array of the inputs' dtype, and no primitive whose
autograd derivative allocates float64 (``np.where``, ``np.maximum``) is used, so a float32
run stays float32 in the forward pass and in every gradient.
"""

from __future__ import annotations

import autograd.numpy as np


def activation(name: str, z):
    """f(z) elementwise."""
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return np.exp(-np.logaddexp(0.0, -z))  # overflow-free; 0.0 keeps z's dtype
    if name == "relu":
        return z * (z > 0)  # derivative [z > 0], as the reference; bool keeps the dtype
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}")


def cell(W_xh, W_hh, b, x_t, h_prev, act: str):
    """h_t (B, H) = f(x_t (B, D) @ W_xh + h_prev (B, H) @ W_hh + b)."""
    return activation(act, x_t @ W_xh + h_prev @ W_hh + b)


def project(xs, W_xh, b):
    """The input projection of every step at once: xs (T, B, D) -> (T, B, H), one GEMM."""
    T, B, D = xs.shape
    return np.reshape(np.reshape(xs, (T * B, D)) @ W_xh + b, (T, B, -1))


def run(pre, h, W_hh, act: str, eps=None):
    """States (n, ...) of n cells from their projected inputs pre (n, ..., H) and the state
    before the first, h (..., H); ``eps[t]`` is added to the state each cell produces."""
    states = []
    for t in range(pre.shape[0]):
        h = activation(act, pre[t] + h @ W_hh)
        if eps is not None:
            h = h + eps[t]
        states.append(h)
    return np.stack(states)


def unroll(W_xh, W_hh, b, xs, h0, act: str):
    """hs (T, B, H) with hs[t] = h_{t+1}."""
    return run(project(xs, W_xh, b), h0, W_hh, act)


def loss(W_xh, W_hh, b, h0, xs, eps, dhs, act: str, k: int, hs):
    """L = sum_s <dhs_s, h_s> where the gradient of term s flows back through the k cells
    s, s-1, ..., s-k+1 only (k >= T: full BPTT). ``eps`` (T, B, H) is zero and added to
    every state the graph produces, so dL/d eps_t is the adjoint dL/dh_t.

    Terms s < k reach h0 without truncation, so they share one chain from h0 over cells
    0..k-1. Each term s >= k is a stream of its own that reruns cells s-k+1..s from the
    forward state before them, ``hs[s-k]``, a constant (``hs`` is computed outside the
    differentiated function), so nothing flows further back. The T - k streams run side by
    side: at step j they all apply cell s-k+1+j, whose inputs are the contiguous slices
    ``pre[j+1 : j+1+T-k]`` and ``eps[j+1 : j+1+T-k]``.
    """
    T = xs.shape[0]
    pre = project(xs, W_xh, b)
    L = np.sum(dhs[:k] * run(pre[:k], h0, W_hh, act, eps[:k]))
    n = T - k
    if n > 0:
        h = hs[:n]
        for j in range(k):
            h = activation(act, pre[j + 1 : j + 1 + n] + h @ W_hh) + eps[j + 1 : j + 1 + n]
        L = L + np.sum(dhs[k:] * h)
    return L
