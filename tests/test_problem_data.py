"""What a problem's data costs and how its arrays are replaced and cast: ``data_bytes`` and
``check_data_fits`` on hand-worked sizes, ``ProblemData.with_arrays`` and ``astype``."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from rnnbench import problems
from rnnbench.errors import InputError
from rnnbench.problems import CHECKED_DATA_BYTES, Problem, data_bytes, make_data


# -- data_bytes ----------------------------------------------------------------------------------
# T = 2, B = 3, D = 4, H = 5. Elements: xs and dhs 2*3*(4+5) = 54; per gate W_x 20, W_h 25 and
# two biases' worth 10 (G = 1, 4, 3); h0 and c0 2*3*5 = 30. Each is drawn in float64 (8 bytes)
# and cast (8 or 4 more). The orthogonal QR holds four (H, H) float64 matrices: 8*4*25 = 800.
@pytest.mark.parametrize(
    ("cell", "dtype", "init", "expected"),
    [
        ("elman", "float64", "gaussian", (54 + 55 + 30) * 16),
        ("elman", "float32", "gaussian", (54 + 55 + 30) * 12),
        ("elman", "float64", "orthogonal", (54 + 55 + 30) * 16 + 800),
        ("lstm", "float64", "gaussian", (54 + 4 * 55 + 30) * 16),
        ("gru", "float32", "orthogonal", (54 + 3 * 55 + 30) * 12 + 800),
    ],
)
def test_data_bytes_by_hand(cell, dtype, init, expected):
    problem = Problem(T=2, B=3, D=4, H=5, cell=cell, dtype=dtype, init=init)
    assert data_bytes(problem) == expected


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_data_bytes_bounds_the_arrays_drawn_and_cast(cell, dtype):
    problem = Problem(T=3, B=2, D=5, H=4, cell=cell, dtype=dtype)
    itemsize = np.dtype(dtype).itemsize
    held = sum(a.nbytes for a in make_data(problem).arrays().values())
    assert held * (8 + itemsize) // itemsize <= data_bytes(problem)


# -- check_data_fits -----------------------------------------------------------------------------
# T = B = 1000, D = H = 100, elman, float64: (10^6 * 200 + 20200 + 200000) * 16 bytes
# = 3,203,523,200 bytes, about 2.98 GiB; nothing is allocated to find that out.
LARGE = Problem(T=1000, B=1000, D=100, H=100)
LARGE_BYTES = (1000 * 1000 * 200 + (100 * 100 + 100 * 100 + 200) + 2 * 1000 * 100) * 16


def _available(monkeypatch, available: int | None) -> list[int]:
    """Make this machine's available memory ``available``; the list counts the queries."""
    asked: list[int] = []

    def available_memory_bytes() -> int | None:
        asked.append(1)
        return available

    monkeypatch.setattr(problems, "available_memory_bytes", available_memory_bytes)
    return asked


def test_the_large_problem_needs_what_the_comment_says():
    assert data_bytes(LARGE) == LARGE_BYTES == 3_203_523_200


def test_data_that_does_not_fit_is_refused_with_both_figures(monkeypatch):
    _available(monkeypatch, 2 * 2**30)
    with pytest.raises(InputError) as refused:
        problems.check_data_fits(LARGE)
    assert str(refused.value) == (
        "the data of Problem(T=1000, B=1000, D=100, H=100) needs about 3.0 GiB; "
        "this machine has 2.0 GiB available"
    )


def test_make_data_refuses_before_drawing_anything(monkeypatch):
    _available(monkeypatch, 2**30 + 2**29)
    monkeypatch.setattr(np.random, "default_rng", None)  # any draw would fail differently
    with pytest.raises(InputError, match=r"needs about 3\.0 GiB; this machine has 1\.5 GiB"):
        make_data(LARGE)


@pytest.mark.parametrize("available", [LARGE_BYTES, LARGE_BYTES + 1, None])
def test_data_that_fits_or_an_unknown_memory_passes(monkeypatch, available):
    asked = _available(monkeypatch, available)
    assert problems.check_data_fits(LARGE) is None
    assert asked == [1]


def test_one_byte_short_is_refused(monkeypatch):
    _available(monkeypatch, LARGE_BYTES - 1)
    with pytest.raises(InputError):
        problems.check_data_fits(LARGE)


@pytest.mark.parametrize(
    ("needed", "queries"), [(CHECKED_DATA_BYTES, 0), (CHECKED_DATA_BYTES + 1, 1)]
)
def test_small_data_is_not_checked_against_the_memory(monkeypatch, needed, queries):
    assert CHECKED_DATA_BYTES == 256 * 2**20
    asked = _available(monkeypatch, 0)
    monkeypatch.setattr(problems, "data_bytes", lambda problem: needed)
    if queries:
        with pytest.raises(InputError, match=r"needs about 0\.3 GiB; this machine has 0\.0 GiB"):
            problems.check_data_fits(Problem())
    else:
        problems.check_data_fits(Problem())
    assert len(asked) == queries


# -- with_arrays and astype ----------------------------------------------------------------------
def test_with_arrays_replaces_only_the_named_arrays_of_a_copy():
    data = make_data(Problem(T=2, B=1, D=2, H=3, seed=1))
    before = {name: array.copy() for name, array in data.arrays().items()}
    new = {"W_hh": np.ones((3, 3)), "xs": np.ones((2, 1, 2)), "h0": np.ones((1, 3))}
    changed = data.with_arrays(**new, dhs=np.full((2, 1, 3), 2.0))
    for name, array in changed.arrays().items():
        if name in new:
            assert array is new[name]
        elif name == "dhs":
            assert np.array_equal(array, np.full((2, 1, 3), 2.0))
        else:
            assert array is data.arrays()[name]
    assert list(changed.arrays()) == list(data.arrays())
    assert changed.problem == data.problem and changed.c0 is None
    for name, array in data.arrays().items():  # the original is untouched
        assert np.array_equal(array, before[name])


def test_with_arrays_replaces_the_lstm_c0_and_keeps_every_other_array():
    data = make_data(Problem(T=2, B=1, D=2, H=3, cell="lstm"))
    c0 = np.ones((1, 3))
    changed = data.with_arrays(c0=c0, b=np.zeros(12))
    assert changed.c0 is c0 and np.array_equal(changed.b, np.zeros(12))
    for name in ("W_x", "W_h", "xs", "h0", "dhs"):
        assert changed.arrays()[name] is data.arrays()[name]


@pytest.mark.parametrize(
    ("changes", "names"), [({"c0": 0}, "c0"), ({"W_x": 0, "zz": 0, "b": 0}, "W_x, zz")]
)
def test_with_arrays_refuses_names_the_data_does_not_have(changes, names):
    data = make_data(Problem(T=1, B=1, D=1, H=1))
    with pytest.raises(KeyError) as refused:
        data.with_arrays(**changes)
    assert refused.value.args == (f"{names}: no such array in this problem's data",)


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_astype_casts_every_array_and_the_problem_and_keeps_the_values(cell):
    data = make_data(Problem(T=2, B=1, D=2, H=3, cell=cell, dtype="float32", seed=2))
    wide = data.astype("float64")
    assert wide.problem == data.problem.with_(dtype="float64")
    assert list(wide.arrays()) == list(data.arrays())
    for name, array in wide.arrays().items():
        assert array.dtype == np.float64
        assert np.array_equal(array, data.arrays()[name].astype(np.float64))
    assert data.xs.dtype == np.float32  # the original keeps its dtype


# -- the gated cells' draws and gate_bias --------------------------------------------------------
def _gated_draws(cell: str, gate_bias: float) -> dict[str, np.ndarray]:
    """make_data's arrays for T = B = D = H = 1 and alpha = 2.5, from the seed by hand, in the
    order drawn: W_x (G draws), G one-entry W_h blocks times alpha, the biases (G draws each,
    times 0.1, the second gate of the first bias shifted by gate_bias), xs, 0.5 h0, dhs and
    0.5 c0 (LSTM) last."""
    G, biases = {"lstm": (4, ["b"]), "gru": (3, ["b_x", "b_h"])}[cell]
    z = iter(np.random.default_rng(7).standard_normal(2 * G + len(biases) * G + 4))
    drawn = {"W_x": np.array([[next(z) for _ in range(G)]])}
    drawn["W_h"] = np.array([[2.5 * next(z) for _ in range(G)]])
    for name in biases:
        drawn[name] = np.array([0.1 * next(z) for _ in range(G)])
    drawn[biases[0]][1] += gate_bias
    drawn["xs"], drawn["h0"], drawn["dhs"] = next(z), 0.5 * next(z), next(z)
    if cell == "lstm":
        drawn["c0"] = 0.5 * next(z)
    return drawn


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("gate_bias", [0.0, 1.5])
def test_gated_draws_come_in_a_fixed_order_with_fixed_scales(cell, gate_bias):
    problem = Problem(T=1, B=1, D=1, H=1, seed=7, alpha=2.5, cell=cell, gate_bias=gate_bias)
    arrays = make_data(problem).arrays()
    expected = _gated_draws(cell, gate_bias)
    assert sorted(arrays) == sorted(expected)
    for name, value in expected.items():
        assert np.array_equal(arrays[name].ravel(), np.ravel(value)), name


@pytest.mark.parametrize(("cell", "shifted"), [("lstm", "b"), ("gru", "b_x")])
def test_gate_bias_shifts_only_the_second_gate_of_the_first_bias(cell, shifted):
    plain = make_data(Problem(T=2, B=2, D=3, H=4, cell=cell))
    biased = make_data(Problem(T=2, B=2, D=3, H=4, cell=cell, gate_bias=1.5))
    for name, array in biased.arrays().items():
        expected = plain.arrays()[name].copy()
        if name == shifted:
            expected[4:8] += 1.5
        assert np.array_equal(array, expected), name


@pytest.mark.parametrize("gate_bias", [float("nan"), float("inf"), "1", None])
def test_gate_bias_must_be_a_finite_number(gate_bias):
    message = f"Problem.gate_bias must be a finite number, got {gate_bias!r}"
    with pytest.raises(InputError) as refused:
        Problem(cell="lstm", gate_bias=gate_bias)
    assert str(refused.value) == message


def test_gate_bias_is_refused_for_the_elman_cell_only():
    with pytest.raises(InputError) as refused:
        Problem(gate_bias=1.0)
    assert str(refused.value) == "Problem.gate_bias is for the gated cells; the elman cell has none"
    assert Problem(gate_bias=0).gate_bias == 0
    assert Problem(cell="gru", gate_bias=-2).gate_bias == -2


# -- ProblemData's attributes --------------------------------------------------------------------
def test_parameters_read_as_attributes_and_unknown_names_are_named():
    data = make_data(Problem(T=1, B=1, D=1, H=1, cell="gru"))
    assert data.b_h is data.params["b_h"]
    with pytest.raises(AttributeError) as missing:
        data.W_xh  # noqa: B018 - the elman cell's name
    assert str(missing.value) == "ProblemData has no array 'W_xh'"


def test_problem_data_copies_and_pickles():
    """copy and pickle look attributes up before ``params`` is set."""
    data = make_data(Problem(T=1, B=1, D=1, H=1, cell="lstm"))
    for twin in (copy.copy(data), copy.deepcopy(data), pickle.loads(pickle.dumps(data))):
        assert twin.problem == data.problem
        assert all(np.array_equal(twin.arrays()[k], a) for k, a in data.arrays().items())
