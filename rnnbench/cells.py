"""Facts about the recurrent cells: today the Elman cell's FLOP counts.

FLOP counts count a multiply-add as 2: forward ``2*T*B*(D*H + H*H)``; forward+BPTT three
times that (the backward pass does two GEMMs per forward GEMM).
"""

from __future__ import annotations

from rnnbench.presets import Size


def forward_flops(size: Size) -> int:
    """2*T*B*(D*H + H*H): the forward pass's floating-point operations."""
    return 2 * size.T * size.B * (size.D * size.H + size.H * size.H)


def bptt_flops(size: Size) -> int:
    """Forward plus backward: three times the forward count."""
    return 3 * forward_flops(size)
