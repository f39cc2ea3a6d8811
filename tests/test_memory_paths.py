"""Which peak-memory method a call gets, without a GPU: ``bptt_peak`` with and without the
backend's own figure, and torch's CUDA statistics on a fake ``torch`` module; the calls
``backend_calls`` makes, which both memory and timing measure."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from rnnbench.harness import memory
from rnnbench.harness.timing import backend_calls
from rnnbench.interface import Inputs, Params


class FakeBackend:
    """Records the calls ``bptt_peak`` makes; ``analysed`` is its own memory figure."""

    def __init__(self, analysed) -> None:
        self.analysed = analysed
        self.calls: list[tuple] = []

    def bptt(self, params, xs, h0, dhs, *, activation, **state0):
        self.calls.append(("bptt", params, xs, h0, dhs, activation, state0))
        return np.ones(1 << 16)  # 512 KiB

    def unroll(self, params, xs, h0, *, activation, **state0):
        self.calls.append(("unroll", params, xs, h0, activation, state0))
        return "hs"

    def bptt_memory_bytes(self, inputs, *, activation):
        self.calls.append(("bptt_memory_bytes", inputs, activation))
        return self.analysed

    def synchronize(self, result) -> None:
        self.calls.append(("synchronize", result))


def _inputs(c0=None) -> Inputs:
    params = Params(np.zeros((2, 3)), np.zeros((3, 3)), np.zeros(3))
    return Inputs(params, np.zeros((4, 1, 2)), np.zeros((1, 3)), np.zeros((4, 1, 3)), c0)


@pytest.mark.parametrize(("analysed", "peak"), [(1234.0, 1234), (np.int64(7), 7), (0, 0)])
def test_the_backends_own_figure_is_taken_as_an_int_after_one_synchronized_call(analysed, peak):
    backend, inputs = FakeBackend(analysed), _inputs(c0=np.zeros((1, 3)))
    measured, grads = memory.bptt_peak(backend, inputs, "relu")
    assert measured == memory.PeakMemory(peak, "xla-memory-analysis")
    assert type(measured.peak_bytes) is int
    kinds = [call[0] for call in backend.calls]  # no unroll: bptt only
    assert kinds == ["bptt_memory_bytes", "bptt", "synchronize"]
    assert backend.calls[0][1:] == (inputs, "relu")
    _, params, xs, h0, dhs, activation, state0 = backend.calls[1]
    assert (params, xs, h0, dhs, activation) == (
        inputs.params, inputs.xs, inputs.h0, inputs.dhs, "relu"
    )  # fmt: skip
    assert state0 == {"c0": inputs.c0}
    assert backend.calls[2][1] is grads and grads.shape == (1 << 16,)


def test_without_the_backends_figure_numpy_arrays_are_traced():
    backend = FakeBackend(None)
    measured, grads = memory.bptt_peak(backend, _inputs(), "tanh")
    assert measured.method == "tracemalloc" and measured.reason == ""
    assert 8 << 16 <= measured.peak_bytes < (8 << 16) + (1 << 16)
    assert [call[0] for call in backend.calls] == ["bptt_memory_bytes", "bptt", "synchronize"]
    assert backend.calls[1][6] == {} and backend.calls[2][1] is grads


@pytest.mark.parametrize("c0", [None, np.zeros((1, 3))])
def test_backend_calls_hand_every_input_and_the_c_state_to_both_calls(c0):
    backend, inputs = FakeBackend(None), _inputs(c0)
    forward, bptt = backend_calls(backend, inputs, "sigmoid")
    assert backend.calls == []  # nothing is called yet
    assert forward() == "hs" and bptt().shape == (1 << 16,)
    state0 = {} if c0 is None else {"c0": c0}
    assert backend.calls[0] == ("unroll", inputs.params, inputs.xs, inputs.h0, "sigmoid", state0)
    assert backend.calls[1][2:] == (inputs.xs, inputs.h0, inputs.dhs, "sigmoid", state0)


# -- torch on a CUDA device, faked -------------------------------------------------------------
class FakeTensor:
    def __init__(self, is_cuda: bool) -> None:
        self.is_cuda = is_cuda
        self.device = "cuda:1" if is_cuda else "cpu"


def _fake_torch(monkeypatch, before: int, peak: int) -> list[tuple]:
    """A ``torch`` module whose CUDA statistics say ``before`` and ``peak``; the list records
    the calls, with the device each got."""
    calls: list[tuple] = []

    def record(name, value=None):
        return lambda device: calls.append((name, device)) or value

    cuda = SimpleNamespace(
        synchronize=record("synchronize"),
        reset_peak_memory_stats=record("reset_peak_memory_stats"),
        memory_allocated=record("memory_allocated", before),
        max_memory_allocated=record("max_memory_allocated", peak),
    )
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(Tensor=FakeTensor, cuda=cuda))
    return calls


@pytest.mark.parametrize(("before", "peak", "expected"), [(3000, 7096, 4096), (5000, 4000, 0)])
def test_a_cuda_tensor_gets_torchs_peak_statistics(monkeypatch, before, peak, expected):
    calls = _fake_torch(monkeypatch, before, peak)

    def call():
        calls.append(("call", None))
        return "grads"

    measured, result = memory.peak_memory(
        call, lambda r: calls.append(("sync", r)), FakeTensor(True)
    )
    assert measured == memory.PeakMemory(expected, "torch-cuda")
    assert result == "grads"
    assert calls == [
        ("synchronize", "cuda:1"),
        ("reset_peak_memory_stats", "cuda:1"),
        ("memory_allocated", "cuda:1"),
        ("call", None),
        ("sync", "grads"),
        ("max_memory_allocated", "cuda:1"),
    ]


@pytest.mark.parametrize("native", [FakeTensor(False), SimpleNamespace()])
def test_a_cpu_tensor_or_another_array_is_not_measured_on_the_gpu(monkeypatch, native):
    calls = _fake_torch(monkeypatch, 0, 0)
    monkeypatch.setattr(memory, "_rss_hwm_unavailable", lambda: "no /proc here")
    measured, result = memory.peak_memory(lambda: 5, lambda r: None, native)
    assert (measured.method, measured.peak_bytes, result) == ("n/a", None, 5)
    assert calls == []


def test_without_torch_imported_a_foreign_array_is_not_measured_on_the_gpu(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(memory, "_rss_hwm_unavailable", lambda: "no /proc here")
    measured, _ = memory.peak_memory(lambda: 5, lambda r: None, FakeTensor(True))
    assert measured.method == "n/a"
