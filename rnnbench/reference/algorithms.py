"""The hand-written algorithms of every cell behind one set of entry points, for any array
library (an ``ArrayOps``): the float64 oracle and the hand-written torch backend both call
these. The cell is told by the parameters' names (``Params.cell``); the LSTM's c state comes
as the keywords ``c_prev``, ``c0`` and ``dcs`` (None: zero), as in ``Backend``'s hooks.
"""

from __future__ import annotations

from typing import Any

from rnnbench.reference import elman, gru, lstm
from rnnbench.reference.ops import ArrayOps


def cell(ops: ArrayOps, params: Any, x_t: Any, h_prev: Any, activation: str, **state: Any):
    """h_t (B, H), or (h_t, c_t) for the LSTM, from x_t (B, D) and h_prev (B, H)."""
    name = params.cell.name
    if name == "lstm":
        return lstm.cell(ops, params, x_t, h_prev, state["c_prev"])
    if name == "gru":
        return gru.cell(ops, params, x_t, h_prev)
    return elman.cell(ops, params, x_t, h_prev, activation)


def states(ops: ArrayOps, params: Any, xs: Any, h0: Any, activation: str, **state0: Any):
    """{"hs": hs} or, for the LSTM, {"hs": hs, "cs": cs}, each (T, B, H)."""
    name = params.cell.name
    if name == "lstm":
        fwd = lstm.forward(ops, params, xs, h0, state0["c0"])
        return {"hs": fwd.hs, "cs": fwd.cs}
    if name == "gru":
        return {"hs": gru.forward(ops, params, xs, h0).hs}
    return {"hs": elman.unroll(ops, params, xs, h0, activation)}


def gradients(
    ops: ArrayOps,
    params: Any,
    xs: Any,
    h0: Any,
    dhs: Any,
    activation: str,
    truncate: int | None,
    **state: Any,
) -> dict[str, Any]:
    """Every gradient and adjoint (names and shapes as ``Grads``), full or truncated."""
    name = params.cell.name
    if name == "lstm":
        return lstm.gradients(ops, params, xs, h0, state["c0"], dhs, state.get("dcs"), truncate)
    if name == "gru":
        return gru.gradients(ops, params, xs, h0, dhs, truncate)
    return elman.gradients(ops, params, xs, h0, dhs, activation, truncate)
