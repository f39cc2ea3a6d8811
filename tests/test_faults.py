"""Faults and bad input, as a user meets them (issue 13, docs/faults.md): misbehaving plugin
backends run through `rnnbench run`, signals sent to a real `rnnbench run` process, leftover
partial folders, the memory pre-check, foreign arrays and malformed calls. Every case ends
in one clear line, its documented exit code, and no partial folder."""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import io
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import fault_plugins
import numpy as np
import pandas as pd
import pytest

from rnnbench.cli import main
from rnnbench.errors import InputError
from rnnbench.harness import interrupts, measure, timing
from rnnbench.harness.workers import InProcessRunner
from rnnbench.interface import Params
from rnnbench.presets import RUN_OVERHEAD_BYTES, Size
from rnnbench.problems import Problem, make_data
from rnnbench.reference import reference_outputs
from rnnbench.registry import get_backend, register_backend, unregister_backend

TINY = ["--size", "6,2,3,4", "--repeats", "2", "--warmup", "0", "--quiet", "--no-decay"]
HERE = Path(__file__).parent


def entries(out: Path) -> list[str]:
    """Every name under ``out/runs``, partial folders included."""
    runs = out / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.exists() else []


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err
    return lines[0]


def quick_overhead(patch: pytest.MonkeyPatch) -> None:
    """Cut the harness-overhead section of a run to a tiny size: not under test here."""
    patch.setattr(measure, "OVERHEAD_SIZE", Size(4, 1, 2, 2))
    patch.setattr(
        timing, "harness_overhead", functools.partial(timing.harness_overhead, budget_s=0.01)
    )


@pytest.fixture(autouse=True)
def _quick_overhead(monkeypatch):
    quick_overhead(monkeypatch)


@pytest.fixture
def faulty():
    names = [register_backend(cls) for cls in fault_plugins.FAULTY]
    yield
    for name in names:
        unregister_backend(name)


#: (backend, status, what its status message says) for each misbehaving plugin
TABLE = [
    ("fault-nan", "disagrees", "W_hh error inf > tolerance"),
    ("fault-tuple", "failed", "OutputError: bptt returned tuple, expected rnnbench.Grads"),
    ("fault-dtype", "failed", "bptt returned W_xh with dtype float64, expected float32"),
    ("fault-mutates", "failed", "OutputError: the backend changed its input xs in place"),
    (
        "fault-sleeps",
        "failed",
        "CallTimeoutError: its warm-up or first unroll/bptt call ran past --call-timeout 0.3 s",
    ),
    ("fault-raises", "failed", "RuntimeError: fault-raises: kernel failed"),
    ("fault-exits", "failed", "BackendExitError: the backend called sys.exit(0) instead of"),
]


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """One `rnnbench run` of every plugin of TABLE beside numpy, at two sizes: (exit code,
    stderr, seconds, status rows, backends in speed.csv, names under runs/)."""
    out = tmp_path_factory.mktemp("table")
    names = [register_backend(cls) for cls in fault_plugins.FAULTY]
    err = io.StringIO()
    patch = pytest.MonkeyPatch()
    quick_overhead(patch)
    start = time.monotonic()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(
                ["run", *(a for row in TABLE for a in ("--backend", row[0])), "--backend",
                 "numpy", *TINY, "--size", "5,1,2,3", "--call-timeout", "0.3",
                 "--out", str(out)]
            )  # fmt: skip
    finally:
        patch.undo()
        for name in names:
            unregister_backend(name)
    seconds = time.monotonic() - start
    (folder,) = entries(out)
    status = pd.read_csv(out / "runs" / folder / "status.csv")
    speed = set(pd.read_csv(out / "runs" / folder / "speed.csv").backend)
    return code, err.getvalue(), seconds, status, speed


def test_the_table_run_fails_with_one_line_naming_every_fault(table_run):
    code, err, seconds, status, _ = table_run
    assert code == 1
    line = one_line(err)
    assert line.startswith("rnnbench: error: fault-nan T=6 B=2 D=3 H=4: disagrees (W_hh error")
    for backend, row_status, message in TABLE:
        assert f"{backend} T=6 B=2 D=3 H=4: {row_status} (" in line
        assert message in line
    assert seconds < fault_plugins.SLEEP_S + 15  # the sleeping backend did not hold it up
    assert (status[status.backend == "numpy"].status == "ok").all()


@pytest.mark.parametrize(("backend", "expected", "message"), TABLE)
def test_a_misbehaving_backend_is_its_own_failure(table_run, backend, expected, message):
    _, _, _, status, speed = table_run
    rows = status[status.backend == backend].set_index("task")
    first = rows.loc["T=6 B=2 D=3 H=4"]
    assert first.status == expected and message in first.message
    assert (backend in speed) == (expected == "disagrees")  # no mislabelled timings
    second = rows.loc["T=5 B=1 D=2 H=3"]
    if backend == "fault-sleeps":  # abandoned: not called again
        assert second.message.startswith("CallTimeoutError: not run: its warm-up or first")
    else:
        assert second.status == expected


def test_the_kit_names_a_tuple_returned_for_grads():
    """The kit says what is wrong, as `rnnbench run` does (it used to fail inside its own
    membership test with NumPy's 'truth value of an array is ambiguous')."""
    from rnnbench.conformance.test_agreement import check_gradients

    backend = fault_plugins.TupleBackend()
    problem = Problem(T=3, B=2, D=2, H=3, dtype="float32")
    with pytest.raises(AssertionError, match=r"^bptt returned tuple, expected rnnbench\.Grads"):
        check_gradients(backend, problem, truncate=None)


def test_sys_exit_outside_a_backend_call_is_one_line_and_exit_1(tmp_path, capsys, faulty):
    code = main(["run", "--backend", "fault-exits-early", *TINY, "--out", str(tmp_path)])
    assert code == 1
    assert "SystemExit: 3" in one_line(capsys.readouterr().err)
    assert entries(tmp_path) == []


# -- bad command lines and files -----------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repeats", "-1"], "--repeats: must be >= 1, got -1"),
        (["--out", ""], "--out: must name a folder, got an empty path"),
        (["--call-timeout", "0"], "--call-timeout: must be a finite number > 0"),
        (["--size", "1,0,1,1"], "size B must be an integer >= 1"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--backend", "numpy", *args, "--quiet"]) == 2
    assert message in one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_a_write_error_names_the_file(tmp_path, capsys, monkeypatch):
    class FullDisk:
        def __init__(self, *args, **kwargs):
            pass

        def writerow(self, row):
            raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr("rnnbench.report.tables.csv.writer", FullDisk)
    assert main(["run", "--backend", "numpy", *TINY, "--out", str(tmp_path)]) == 1
    line = one_line(capsys.readouterr().err)
    assert "cannot write " in line and ".partial-run-" in line
    assert line.endswith("speed.csv: File too large")
    assert entries(tmp_path) == []


# -- leftover partial folders -------------------------------------------------------------------
def test_leftover_partials_are_reported_then_cleaned(tmp_path, capsys):
    runs = tmp_path / "runs"
    dead = runs / ".partial-run-999999999-0bad"  # above any pid_max: no such process
    (dead / "sub").mkdir(parents=True)
    live = runs / f".partial-run-{os.getppid()}-0abc"  # a run still going on: left alone
    live.mkdir()
    assert main(["run", "--backend", "numpy", *TINY, "--out", str(tmp_path)]) == 0
    warning = one_line(capsys.readouterr().err)
    assert warning.startswith("rnnbench: warning: 1 partial folder(s) of killed runs in ")
    assert ".partial-run-999999999-0bad" in warning and "--clean-partial" in warning
    assert dead.exists() and live.exists()
    assert (
        main(["run", "--backend", "numpy", *TINY, "--clean-partial", "--out", str(tmp_path)]) == 0
    )
    assert "removed 1 partial folder(s)" in one_line(capsys.readouterr().err)
    assert not dead.exists() and live.exists()


def test_compare_reports_and_cleans_leftover_partials_too(tmp_path, capsys):
    run = tmp_path / "a"
    assert main(["run", "--backend", "numpy", *TINY, "--out", str(run)]) == 0
    (folder,) = (run / "runs").iterdir()
    out = tmp_path / "out"
    dead = out / "runs" / ".partial-run-999999999-0bad"
    dead.mkdir(parents=True)
    capsys.readouterr()
    compare = ["compare", str(folder), str(folder), "--out", str(out)]
    assert main(compare) == 0
    assert "partial folder(s) of killed runs" in one_line(capsys.readouterr().err)
    assert main([*compare, "--clean-partial"]) == 0
    assert "removed 1 partial folder(s)" in one_line(capsys.readouterr().err)
    assert not dead.exists()


# -- signals, sent to a real process ------------------------------------------------------------
def start_run(out: Path, backend: str) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "rnnbench", "run", "--backend", backend, "--backend", "numpy",
        *TINY, "--out", str(out),
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_partial(proc: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 60
    while not any(name.startswith(".partial-") for name in entries(out)):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no partial folder appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_signal_ends_the_run_with_one_line_and_nothing_kept(tmp_path, signum, code):
    with start_run(tmp_path, "fault_plugins:SleepingBackend") as proc:
        wait_for_partial(proc, tmp_path)
        proc.send_signal(signum)
        err = proc.stderr.read()
        assert proc.wait(timeout=30) == code
    name = signal.Signals(signum).name
    assert one_line(err) == (
        f"rnnbench: error: interrupted by {name}; nothing of this run was kept "
        "(earlier runs are untouched)"
    )
    assert entries(tmp_path) == []


def test_an_interrupt_swallowed_by_a_gc_callback_still_ends_the_run(tmp_path):
    with start_run(tmp_path, "fault_plugins:SlowGcBackend") as proc:
        assert proc.stderr.readline() == "gc callback sleeping\n"
        proc.send_signal(signal.SIGINT)  # raised inside the callback, where Python drops it
        err = proc.stderr.read()
        assert proc.wait(timeout=30) == 130
    err = "\n".join(line for line in err.splitlines() if line != "gc callback sleeping")
    assert "interrupted by SIGINT" in one_line(err)
    assert entries(tmp_path) == []


def test_a_killed_run_leaves_a_partial_folder_the_next_run_reports(tmp_path, capsys):
    with start_run(tmp_path, "fault_plugins:SleepingBackend") as proc:
        wait_for_partial(proc, tmp_path)
        proc.kill()
        proc.wait(timeout=30)
    (partial,) = entries(tmp_path)
    assert main(["run", "--backend", "numpy", *TINY, "--out", str(tmp_path)]) == 0
    assert partial in one_line(capsys.readouterr().err)


def test_signals_raise_or_wait_for_the_next_checkpoint(capsys):
    with pytest.raises(interrupts.Interrupted) as caught, interrupts.handling():
        signal.raise_signal(signal.SIGTERM)
    assert caught.value.exit_code == 143
    with pytest.raises(interrupts.Interrupted) as caught:  # noqa: SIM117 (order matters)
        with interrupts.handling(), interrupts.deferred():
            signal.raise_signal(signal.SIGHUP)  # recorded; raised when the block ends
            assert interrupts.received() == signal.SIGHUP
    assert caught.value.exit_code == 129

    def interrupted_callback(phase, info):
        raise KeyboardInterrupt  # where Python can only print "Exception ignored"

    with pytest.raises(interrupts.Interrupted) as caught, interrupts.handling():
        gc.callbacks.append(interrupted_callback)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(interrupted_callback)
        assert interrupts.received() == signal.SIGINT
        interrupts.checkpoint()
    assert caught.value.exit_code == 130
    assert capsys.readouterr().err == ""
    assert interrupts.received() is None  # nothing outlives the command


# -- the memory pre-check --------------------------------------------------------------------------
def run_peak(size: Size, dtype: str) -> int:
    """tracemalloc's peak over what `rnnbench run` does at one size with the numpy backend."""
    tracemalloc.start()
    try:
        timing.gemm_rate(size, dtype, budget_s=0.01)
        problem = size.problem(dtype=dtype)
        reference = reference_outputs(make_data(problem))
        runner = InProcessRunner(get_backend("numpy"))
        runner.load(problem)
        runner.time("forward")
        runner.time("bptt")
        result = runner.outputs()
        del reference, result
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "size", [Size(1, 1, 1, 700), Size(400, 32, 2, 32), Size(400, 32, 48, 2), Size(50, 8, 64, 128)]
)
def test_the_memory_estimate_bounds_a_run(size, dtype):
    peak = run_peak(size, dtype)
    arrays = size.estimated_run_bytes(dtype) - RUN_OVERHEAD_BYTES
    assert peak <= arrays <= 4.5 * peak


def test_a_size_over_the_available_memory_is_refused_up_front(tmp_path, capsys, monkeypatch):
    huge = Size(1, 1, 1, 30000)  # W_hh alone is 7.2 GB in float64
    assert huge.estimated_run_bytes("float32") > 70 * 2**30
    monkeypatch.setattr("rnnbench.commands.run.available_memory_bytes", lambda: 24 * 2**30)
    code = main(["run", "--backend", "numpy", "--size", "1,1,1,30000", "--quiet",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert "size T=1 B=1 D=1 H=30000 needs about 70.5 GiB in float32" in line
    assert "24.0 GiB available" in line
    assert entries(tmp_path) == []


def test_make_data_refuses_a_problem_that_cannot_fit(monkeypatch):
    monkeypatch.setattr("rnnbench.problems.available_memory_bytes", lambda: 2**30)
    with pytest.raises(InputError, match=r"data of Problem\(T=16, B=4, D=8, H=30000\) needs"):
        make_data(Problem(H=30000))


# -- foreign arrays and malformed calls, on every backend ------------------------------------
BACKENDS = ["numpy", "torch", "torch-manual", "torch-nn", "jax", "autograd"]


def native_call(name: str, T: int = 3, B: int = 2, D: int = 4, H: int = 5):
    backend = get_backend(name)
    dtype = "float32"
    arrays = {
        "W_xh": np.zeros((D, H), dtype), "W_hh": np.zeros((H, H), dtype), "b": np.zeros(H, dtype),
        "xs": np.zeros((T, B, D), dtype), "h0": np.zeros((B, H), dtype),
        "dhs": np.zeros((T, B, H), dtype),
    }  # fmt: skip
    n = {k: backend.to_native(v) for k, v in arrays.items()}
    return backend, Params(n["W_xh"], n["W_hh"], n["b"]), n, arrays


@pytest.mark.parametrize("name", BACKENDS)
def test_a_foreign_array_is_refused_naming_the_argument(name):
    backend, params, n, arrays = native_call(name)
    if isinstance(n["xs"], np.ndarray):
        foreign = get_backend("torch").to_native(arrays["xs"])
        expected = "xs must be a numpy.ndarray .* got torch.Tensor"
    else:
        foreign = arrays["xs"]
        expected = "xs must be a .* got numpy.ndarray"
    with pytest.raises(InputError, match=expected):
        backend.bptt(params, foreign, n["h0"], n["dhs"], activation="tanh")


@pytest.mark.parametrize("name", BACKENDS)
def test_a_tuple_for_params_is_refused(name):
    backend, params, n, _ = native_call(name)
    expected = r"params must be rnnbench.Params \(the cell's parameters by name\), got tuple"
    with pytest.raises(InputError, match=expected):
        backend.unroll(tuple(params.values()), n["xs"], n["h0"], activation="tanh")


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize(
    ("sizes", "message"),
    [({"B": 0}, "the batch B must be >= 1, got B = 0"),
     ({"H": 0}, "the hidden size H must be >= 1, got H = 0")],
)  # fmt: skip
def test_an_empty_batch_or_hidden_size_is_refused_alike(name, sizes, message):
    backend, params, n, _ = native_call(name, **sizes)
    with pytest.raises(InputError, match=message):
        backend.bptt(params, n["xs"], n["h0"], n["dhs"], activation="tanh")
    with pytest.raises(InputError, match=message):
        backend.unroll(params, n["xs"], n["h0"], activation="tanh")


@pytest.mark.parametrize("field", ["B", "H"])
def test_an_empty_problem_or_size_is_refused(field):
    with pytest.raises(InputError, match=f"Problem.{field} must be an integer >= 1, got 0"):
        Problem(**{field: 0})
    with pytest.raises(InputError, match=f"size {field} must be an integer >= 1, got 0"):
        Size(**{"T": 1, "B": 1, "D": 1, "H": 1, field: 0})
