"""The four cell activations: names, the bound gamma on |f'|, and NumPy versions.

Every activation's derivative can be written from its *output* h = f(z) alone, which is
what a hand-written BPTT stores: tanh' = 1 - h^2, sigmoid' = h (1 - h), relu' = [h > 0],
identity' = 1.
"""

from __future__ import annotations

import numpy as np

#: gamma = sup |f'(z)|, the constant in Pascanu, Mikolov & Bengio's bound (gamma * s)^k.
GAMMA: dict[str, float] = {"tanh": 1.0, "relu": 1.0, "sigmoid": 0.25, "identity": 1.0}

ACTIVATIONS: tuple[str, ...] = tuple(GAMMA)


def numpy_activation(name: str, z: np.ndarray) -> np.ndarray:
    """f(z) elementwise; z of any shape. The sigmoid is the overflow-free form."""
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return np.exp(-np.logaddexp(0.0, -z)).astype(z.dtype, copy=False)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")


def derivative_from_output(name: str, h):
    """f'(z) written in terms of h = f(z), for any array type with * and >.

    Returns a boolean mask for relu (so multiplying keeps the float dtype) and None for
    the identity, whose derivative needs no multiplication.
    """
    if name == "tanh":
        return 1 - h * h
    if name == "sigmoid":
        return h * (1 - h)
    if name == "relu":
        return h > 0
    if name == "identity":
        return None
    raise ValueError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")
