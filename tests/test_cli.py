"""The `rnnbench` command line, run for real on tiny sizes with the NumPy backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rnnbench_backends.numpy_backend import NumpyBackend

from rnnbench.cli import build_parser, main
from rnnbench.commands.run import choose_baseline
from rnnbench.registry import register_backend, unregister_backend

TINY = ["--size", "6,2,3,4", "--repeats", "2", "--warmup", "0", "--quiet"]


class FailingBackend(NumpyBackend):
    """Fails in BPTT, as a backend with a bug would, mid-run."""

    name = "failing"

    def _bptt(self, *args):
        raise RuntimeError("simulated failure in bptt")


class WrongBackend(NumpyBackend):
    """Returns a W_hh gradient 1 % off."""

    name = "wrong"

    def _bptt(self, *args):
        grads = super()._bptt(*args)
        return type(grads)(**{**dict(grads.items()), "W_hh": grads.W_hh * 1.01})


class InterruptedBackend(NumpyBackend):
    """Ctrl-C arrives while it runs BPTT."""

    name = "interrupted"

    def _bptt(self, *args):
        raise KeyboardInterrupt


class MissingFrameworkBackend(NumpyBackend):
    """Needs a framework that is not installed."""

    name = "missing"
    requires = ("no_such_framework_for_rnnbench",)
    install_hint = "pip install no-such-framework"


@pytest.fixture
def test_backends():
    classes = (FailingBackend, WrongBackend, InterruptedBackend, MissingFrameworkBackend)
    names = [register_backend(cls) for cls in classes]
    yield
    for name in names:
        unregister_backend(name)


def runs(out: Path) -> list[Path]:
    """Run folders under ``out`` (partial ones included, so a leftover is caught)."""
    folder = out / "runs"
    return sorted(folder.iterdir()) if folder.exists() else []


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("rnnbench")
    return lines[0]


# -- help and backends ----------------------------------------------------------------------------
def test_help_explains_every_option(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == {"run", "compare", "decay", "train", "backends"}
    assert main(["--help"]) == 0  # a '%' in a command's summary once broke it
    text = capsys.readouterr().out
    assert all(name in text for name in commands)
    for name, sub in commands.items():
        assert main([name, "--help"]) == 0
        text = capsys.readouterr().out
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings} has no help"
            for option in action.option_strings:
                assert option in text
        assert "exit codes" in text
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in commands)


def test_backends_lists_every_backend_with_its_availability(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "available" in out
    assert main(["backends", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    numpy_row = next(r for r in listed if r["backend"] == "numpy")
    assert numpy_row["available"] is True
    assert "float64" in numpy_row["dtypes"]
    assert all(r["available"] or r["reason"] for r in listed)


def test_python_dash_m_runs_the_same_command():
    done = subprocess.run(
        [sys.executable, "-m", "rnnbench", "backends"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "numpy" in done.stdout


# -- run ------------------------------------------------------------------------------------------
def test_run_writes_a_complete_run_folder(tmp_path, capsys):
    code = main(["run", "--backend", "numpy", *TINY, "--size", "5,1,2,3", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    (folder,) = runs(tmp_path)
    assert folder.name.endswith("-run")
    assert str(folder) in out and "harness overhead" in out
    expected = {
        "speed.csv", "agreement.csv", "memory.csv", "gemm.csv", "status.csv",
        "decay_curves.csv", "decay_summary.csv", "run.json", "report.md",
        "speed.png", "decay.png",
    }  # fmt: skip
    assert expected <= {p.name for p in folder.iterdir()}

    speed = pd.read_csv(folder / "speed.csv")
    assert set(speed.phase) == {"forward", "backward", "bptt"}
    assert len(speed) == 6  # 2 sizes x 3 phases
    assert (speed[speed.phase != "backward"].median_s > 0).all() and (speed.repeats == 2).all()
    assert (speed.q25_s <= speed.median_s).all() and (speed.median_s <= speed.q75_s).all()
    row = speed[(speed.phase == "bptt") & (speed["T"] == 6)].iloc[0]
    flops = 3 * 2 * 6 * 2 * (3 * 4 + 4 * 4)
    assert row.gflops == pytest.approx(flops / row.median_s / 1e9)
    assert row.pct_of_gemm == pytest.approx(100 * row.gflops / row.gemm_gflops)

    agreement = pd.read_csv(folder / "agreement.csv")
    assert set(agreement.quantity) == {"unroll", "W_xh", "W_hh", "b", "h0", "xs", "hs"}
    assert agreement.passed.all()

    memory = pd.read_csv(folder / "memory.csv")
    assert (memory.method == "tracemalloc").all()
    assert (memory.peak_bytes >= memory.bound_bytes).all()
    assert (memory.bound_bytes == memory["T"] * memory.B * memory.H * 4).all()

    decay = pd.read_csv(folder / "decay_summary.csv")
    backend_rows = decay[decay.source == "numpy"]
    assert backend_rows.agrees.all()
    overflow = backend_rows[(backend_rows.activation == "identity") & (backend_rows.alpha == 1.1)]
    assert overflow.status.iloc[0].startswith("overflowed at k = 9")

    record = json.loads((folder / "run.json").read_text())
    assert record["machine"]["logical_cores"] >= 1
    assert record["machine"]["blas"]["name"]
    assert record["machine"]["versions"]["numpy"]
    assert record["harness_overhead"]["bare_s"] > 0
    report = (folder / "report.md").read_text()
    assert "![time per call](speed.png)" in report and "## Gradient decay" in report


def test_a_second_run_never_overwrites_the_first(tmp_path):
    args = ["run", "--backend", "numpy", *TINY, "--no-decay", "--out", str(tmp_path)]
    assert main(args) == 0
    (first,) = runs(tmp_path)
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    assert main(args) == 0
    assert len(runs(tmp_path)) == 2
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before


def test_a_failing_backend_is_reported_and_the_run_goes_on(tmp_path, capsys, test_backends):
    code = main(
        ["run", "--backend", "failing", "--backend", "numpy", *TINY, "--no-decay",
         "--out", str(tmp_path)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "failing" in one_line_error(err)
    (folder,) = runs(tmp_path)
    status = pd.read_csv(folder / "status.csv").set_index("backend")
    assert status.loc["failing", "status"] == "failed"
    assert "simulated failure in bptt" in status.loc["failing", "message"]
    assert status.loc["numpy", "status"] == "ok"
    assert set(pd.read_csv(folder / "speed.csv").backend) == {"numpy"}


def test_a_disagreeing_backend_fails_the_run(tmp_path, capsys, test_backends):
    code = main(["run", "--backend", "wrong", *TINY, "--no-decay", "--out", str(tmp_path)])
    assert code == 1
    assert "disagrees" in one_line_error(capsys.readouterr().err)
    (folder,) = runs(tmp_path)
    agreement = pd.read_csv(folder / "agreement.csv").set_index("quantity")
    assert not agreement.loc["W_hh", "passed"]
    assert agreement.drop(index="W_hh").passed.all()


def test_an_unavailable_backend_is_skipped_with_its_reason(tmp_path, capsys, test_backends):
    assert main(["backends"]) == 0
    assert "missing: backend 'missing' needs no_such_framework_for_rnnbench" in (
        capsys.readouterr().out
    )
    code = main(
        ["run", "--backend", "missing", "--backend", "numpy", *TINY, "--no-decay",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 1  # it was asked for by name, so its absence is a failure
    assert "missing: not available" in one_line_error(capsys.readouterr().err)
    (folder,) = runs(tmp_path)
    status = pd.read_csv(folder / "status.csv").set_index("backend")
    assert status.loc["missing", "status"] == "skipped"
    assert "pip install no-such-framework" in status.loc["missing", "message"]
    assert status.loc["numpy", "status"] == "ok"


class BrokenConstructorBackend(NumpyBackend):
    """Installed, but its constructor has a bug."""

    name = "broken"

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        raise RuntimeError("simulated bug in __init__")


def test_a_backend_that_fails_to_load_is_a_failure_not_a_skip(tmp_path, capsys):
    register_backend(BrokenConstructorBackend)
    try:
        code = main(
            ["run", "--backend", "broken", "--backend", "numpy", *TINY, "--no-decay",
             "--out", str(tmp_path)]
        )  # fmt: skip
    finally:
        unregister_backend("broken")
    assert code == 1
    assert "broken load: failed" in one_line_error(capsys.readouterr().err)
    (folder,) = runs(tmp_path)
    status = pd.read_csv(folder / "status.csv").set_index("backend")
    assert (status.loc["broken", "task"], status.loc["broken", "status"]) == ("load", "failed")
    assert "RuntimeError: simulated bug in __init__" in status.loc["broken", "message"]
    assert status.loc["numpy", "status"] == "ok"


def test_a_name_two_plugins_claim_is_a_warning_and_an_error_when_asked_for(
    tmp_path, capsys, fake_entry_points
):
    fake_entry_points(("numpy", "tests.mutants:SignFlipBackend"))
    assert main(["backends"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("rnnbench: warning: backend name 'numpy' is claimed by ")
    assert "rnnbench_backends.numpy_backend:NumpyBackend (built-in)" in err
    assert "tests.mutants:SignFlipBackend (entry point)" in err
    assert "numpy" in out
    code = main(["run", "--backend", "numpy", *TINY, "--no-decay", "--out", str(tmp_path)])
    assert code == 1
    assert "numpy load: failed" in one_line_error(capsys.readouterr().err)
    (folder,) = runs(tmp_path)
    status = pd.read_csv(folder / "status.csv").set_index("backend")
    assert status.loc["numpy", "status"] == "failed"
    assert "tests.mutants:SignFlipBackend" in status.loc["numpy", "message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "nonexistent"], "unknown backend 'nonexistent'"),
        (["--preset", "huge"], "invalid choice: 'huge'"),
        (["--size", "0,1,1,1"], "size T must be an integer >= 1"),
        (["--size", "1,2,3"], "must be four integers"),
        (["--size", "100000000,1000,1000,1000"], "GiB"),
        (["--repeats", "0"], "must be >= 1"),
        (["--cell", "rnn"], "invalid choice: 'rnn'"),
        (["--cell", "lstm", "--activation", "relu"], "cell 'lstm' uses its fixed gate"),
        (["--backend", "numpy", "--baseline", "torch"], "--baseline torch: not a backend"),
        (["--baseline", "nonexistent"], "--baseline nonexistent: not a backend"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    code = main(["run", *args, "--quiet", "--out", str(tmp_path)])
    assert code == 2
    assert message in one_line_error(capsys.readouterr().err)
    assert runs(tmp_path) == []


def test_the_baseline_is_numpy_else_the_first_backend_measured():
    assert choose_baseline(None, None) == "numpy"
    assert choose_baseline(None, ["torch", "numpy"]) == "numpy"
    assert choose_baseline(None, ["torch", "jax"]) == "torch"
    assert choose_baseline("jax", ["torch", "jax"]) == "jax"


def test_an_unwritable_results_folder_is_one_line_and_exit_1(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["run", "--backend", "numpy", *TINY, "--out", str(blocker / "results")])
    assert code == 1
    assert "cannot write results under" in one_line_error(capsys.readouterr().err)


def test_ctrl_c_keeps_nothing_of_the_run_and_earlier_runs_intact(tmp_path, capsys, test_backends):
    assert main(["run", "--backend", "numpy", *TINY, "--no-decay", "--out", str(tmp_path)]) == 0
    (earlier,) = runs(tmp_path)
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    capsys.readouterr()
    code = main(
        ["run", "--backend", "numpy", "--backend", "interrupted", *TINY, "--out", str(tmp_path)]
    )
    assert code == 130
    assert "interrupted" in one_line_error(capsys.readouterr().err)
    assert runs(tmp_path) == [earlier]
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before


def test_a_real_sigint_ends_the_process_cleanly(tmp_path):
    command = [
        sys.executable, "-m", "rnnbench", "run", "--backend", "numpy", "--size", "2000,1,32,32",
        "--repeats", "100000", "--no-decay", "--out", str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env) as proc:
        for line in proc.stderr:
            if "numpy T=2000" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        code = proc.wait(timeout=60)
    assert code == 130
    assert "interrupted" in one_line_error(rest)
    assert runs(tmp_path) == []


# -- decay and train ------------------------------------------------------------------------------
def test_decay_reports_overflow_theory_and_agreement(tmp_path, capsys):
    code = main(
        ["decay", "--backend", "numpy", "--size", "1000,1,4,8", "--activation", "identity",
         "--activation", "tanh", "--alpha", "1.1", "--quiet", "--out", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "overflowed at k = " in out
    (folder,) = runs(tmp_path)
    assert {"decay.png", "decay_curves.csv", "decay_summary.csv", "report.md"} <= {
        p.name for p in folder.iterdir()
    }
    summary = pd.read_csv(folder / "decay_summary.csv")
    identity = summary[(summary.source == "numpy") & (summary.activation == "identity")].iloc[0]
    assert identity.verdict == "exploding"
    assert identity.fitted_rate == pytest.approx(1.1, rel=1e-5)
    assert identity.theory_rate == 1.1 and identity.theory == "exact alpha^k"
    tanh = summary[(summary.source == "numpy") & (summary.activation == "tanh")].iloc[0]
    assert tanh.theory.startswith("Pascanu")
    assert tanh.fitted_rate <= tanh.theory_rate
    assert summary[summary.source == "numpy"].agrees.all()
    curves = pd.read_csv(folder / "decay_curves.csv")
    assert set(curves.source) == {"theory", "float64 reference", "numpy"}
    assert "agrees with the float64 reference" in (folder / "report.md").read_text()


def test_train_shows_divergence_without_a_crash(tmp_path, capsys):
    code = main(
        ["train", "--backend", "numpy", "--scenario", "exploding", "--scenario",
         "exploding-clipped", "--steps", "5", "--quiet", "--out", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "diverged at step 1" in out
    (folder,) = runs(tmp_path)
    assert {"train.png", "train_losses.csv", "train_outcomes.csv", "report.md"} <= {
        p.name for p in folder.iterdir()
    }
    outcomes = pd.read_csv(folder / "train_outcomes.csv").set_index("scenario")
    assert outcomes.loc["exploding", "diverged_at"] == 1
    assert pd.isna(outcomes.loc["exploding-clipped", "diverged_at"])
    losses = pd.read_csv(folder / "train_losses.csv")
    assert len(losses) == 10


def test_train_refuses_a_bad_override(tmp_path, capsys):
    code = main(["train", "--task", "adding", "--lag", "1", "--quiet", "--out", str(tmp_path)])
    assert code == 2
    assert "lag" in one_line_error(capsys.readouterr().err)


def test_run_measures_each_size_with_each_cell(tmp_path, capsys):
    """--cell repeats every size per cell; FLOP counts and the GEMM roof follow the cell."""
    code = main(
        ["run", "--backend", "numpy", *TINY, "--cell", "elman", "--cell", "lstm", "--cell", "gru",
         "--no-decay", "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    (folder,) = runs(tmp_path)
    speed = pd.read_csv(folder / "speed.csv")
    sizes = sorted(set(speed["size"]))
    assert sizes == ["T=6 B=2 D=3 H=4", "gru T=6 B=2 D=3 H=4", "lstm T=6 B=2 D=3 H=4"]
    agreement = pd.read_csv(folder / "agreement.csv")
    lstm = set(agreement[agreement["size"].str.startswith("lstm")]["quantity"])
    assert {"W_x", "W_h", "b", "c0", "cs", "hs"} <= lstm
    assert agreement["passed"].all()
