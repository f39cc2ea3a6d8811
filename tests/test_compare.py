"""`rnnbench compare` and the interleaved timing behind it, on backends that sleep: their
times are known, so the verdicts are too (margins are wide: the tests assert what is found,
never how fast anything is).

In this process a sleepy backend sleeps on a virtual clock: the harness's clock is real time
plus the sleeps, so the times are known whatever the load on the machine. In a worker
process (``--isolate``) it really sleeps.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from rnnbench_backends.numpy_backend import NumpyBackend

from rnnbench.cli import main
from rnnbench.harness import timing
from rnnbench.registry import register_backend, unregister_backend

#: seconds a sleepy backend's forward sleeps; its BPTT sleeps twice that
SLEEP_S = 0.01
#: environment variable: "NAME=FACTOR" slows backend NAME's calls by FACTOR
SLOWDOWN_ENV = "RNNBENCH_TEST_SLOWDOWN"


class Virtual:
    """Whether sleeps are virtual in this process, and how many seconds were slept so far."""

    on = False
    slept = 0.0


def virtual_clock() -> float:
    """Real time plus every virtual sleep."""
    return time.perf_counter() + Virtual.slept


def _sleep(name: str, seconds: float) -> None:
    target, _, factor = os.environ.get(SLOWDOWN_ENV, "").partition("=")
    seconds *= float(factor) if target == name else 1.0
    if Virtual.on:
        Virtual.slept += seconds
    else:
        time.sleep(seconds)


class SleepyBackend(NumpyBackend):
    """The NumPy backend on a tiny problem, plus a sleep of SLEEP_S per forward and twice
    that per BPTT, times the slowdown RNNBENCH_TEST_SLOWDOWN gives its name."""

    name = "sleepy-a"

    def _unroll(self, *args):
        _sleep(self.name, SLEEP_S)
        return super()._unroll(*args)

    def _bptt(self, *args):
        _sleep(self.name, 2 * SLEEP_S)
        return super()._bptt(*args)


class SleepyB(SleepyBackend):
    name = "sleepy-b"


@pytest.fixture
def sleepy_backends(monkeypatch):
    """The two sleepy backends registered, sleeping on the virtual clock in this process."""
    monkeypatch.setattr(timing, "clock", virtual_clock)
    monkeypatch.setattr(Virtual, "on", True)
    for cls in (SleepyBackend, SleepyB):
        register_backend(cls, replace=True)
    yield
    for cls in (SleepyBackend, SleepyB):
        unregister_backend(cls.name)


def run_once(out: Path, *extra: str) -> Path:
    """One `rnnbench run` of the two sleepy backends; its run folder."""
    before = set((out / "runs").glob("*-run")) if (out / "runs").exists() else set()
    argv = ["run", "--backend", "sleepy-a", "--backend", "sleepy-b", "--baseline", "sleepy-a"]
    argv += ["--size", "4,2,3,4", "--repeats", "9", "--warmup", "1", "--no-decay", "--quiet"]
    assert main([*argv, "--out", str(out), *extra]) == 0
    (folder,) = set((out / "runs").glob("*-run")) - before
    return folder


def compare(out: Path, *args: str) -> tuple[int, dict]:
    """Exit code and compare.json of `rnnbench compare ARGS`."""
    code = main(["compare", *args, "--out", str(out / "cmp")])
    newest = max((out / "cmp" / "runs").glob("*-compare*"), key=lambda p: p.stat().st_mtime_ns)
    return code, json.loads((newest / "compare.json").read_text())


def test_a_run_keeps_every_sample_and_identifies_itself(tmp_path, sleepy_backends):
    folder = run_once(tmp_path)
    record = json.loads((folder / "run.json").read_text())
    assert record["schema_version"] >= 2
    assert record["device"] == "cpu" and "requested" in record["threads"]
    assert record["machine"]["hostname"]
    assert record["created_utc"].endswith("+00:00")
    assert {"commit", "dirty"} <= set(record["source"])
    lines = (folder / "samples.csv").read_text().splitlines()
    assert len(lines) == 1 + 9 * 2 * 2  # header + rounds x backends x phases
    ratios = (folder / "ratios.csv").read_text()
    assert "sleepy-b" in ratios and "backward" in ratios


def test_rounds_interleave_backends_in_shuffled_orders(tmp_path, sleepy_backends):
    from rnnbench.report.tables import read_csv

    rows = read_csv(run_once(tmp_path) / "samples.csv")
    orders = {}
    for row in rows:
        orders.setdefault(row["round"], []).append(
            (int(row["position"]), row["backend"], row["phase"])
        )
    assert len(orders) == 9
    sequences = {tuple(tuple(u) for _, *u in sorted(units)) for units in orders.values()}
    assert all(len(s) == 4 for s in sequences)
    assert len(sequences) > 1  # 9 rounds of 4 units in one fixed order: chance 1 in 24^8


def test_identical_runs_show_no_significant_change(tmp_path, sleepy_backends):
    a, b = run_once(tmp_path), run_once(tmp_path)
    code, result = compare(tmp_path, str(a), str(b), "--fail-above", "10")
    assert code == 0
    assert len(result["compared"]) == 2 * 3  # backends x phases
    assert {r["verdict"] for r in result["compared"]} == {"no significant change"}


def test_a_backend_slowed_by_30_percent_is_flagged_and_fails_the_check(
    tmp_path, sleepy_backends, monkeypatch, capsys
):
    a = run_once(tmp_path)
    monkeypatch.setenv(SLOWDOWN_ENV, "sleepy-b=1.3")
    b = run_once(tmp_path)
    capsys.readouterr()
    code, result = compare(tmp_path, str(a), str(b), "--fail-above", "10")
    assert code == 1
    assert "significant slowdown above 10 %: sleepy-b" in capsys.readouterr().err
    verdicts = {(r["backend"], r["phase"]): r["verdict"] for r in result["compared"]}
    assert {k for k, v in verdicts.items() if v != "no significant change"} == {
        ("sleepy-b", "forward"),
        ("sleepy-b", "backward"),
        ("sleepy-b", "bptt"),
    }
    assert {verdicts[("sleepy-b", p)] for p in ("forward", "backward", "bptt")} == {"slower"}
    slowed = [r for r in result["compared"] if r["backend"] == "sleepy-b"]
    assert all(1.2 < r["ratio"] < 1.4 and r["ci_low"] > 1 for r in slowed)


def test_isolated_workers_time_each_backend_in_its_own_process(
    tmp_path, sleepy_backends, monkeypatch
):
    monkeypatch.setenv(SLOWDOWN_ENV, "sleepy-b=1.3")  # workers see the environment
    folder = run_once(tmp_path, "--isolate", "--threads", "1")
    record = json.loads((folder / "run.json").read_text())
    by_backend = record["timing"]["threads_by_backend"]
    pids = {by_backend[name]["pid"] for name in ("sleepy-a", "sleepy-b")}
    assert len(pids) == 2 and os.getpid() not in pids
    assert all(t["requested"] == 1 and t["OMP_NUM_THREADS"] == "1" for t in by_backend.values())
    from rnnbench.report.tables import read_csv

    bptt = {
        r["backend"]: float(r["ratio"])
        for r in read_csv(folder / "ratios.csv")
        if r["phase"] == "bptt"
    }
    assert 1.15 < bptt["sleepy-b"] < 1.5


def test_runs_with_other_settings_or_sizes_are_compared_only_where_they_match(
    tmp_path, sleepy_backends, capsys
):
    a = run_once(tmp_path)
    b = run_once(tmp_path, "--threads", "1")
    c = run_once(tmp_path, "--size", "5,2,3,4")  # both sizes: 4,2,3,4 (from run_once) and 5,...
    code, result = compare(tmp_path, str(a), str(b), str(c))
    assert code == 0
    reasons = [r["reason"] for r in result["not_compared"]]
    assert any(r.startswith("settings differ: threads None vs 1") for r in reasons)
    assert any(r == f"only in {c.name}" for r in reasons)
    assert {r["run"] for r in result["compared"]} == {c.name}
    assert {r["size"] for r in result["compared"]} == {"T=4 B=2 D=3 H=4"}
    out = capsys.readouterr().out
    assert "not compared:" in out and "verdict" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["only-one"], "two or more run folders"),
        (["nowhere", "nowhere"], "is not a run folder"),
    ],
)
def test_compare_refuses_bad_input_in_one_line(tmp_path, capsys, args, message):
    assert main(["compare", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_device_cuda_without_a_gpu_is_one_clear_line(tmp_path, capsys, monkeypatch):
    from rnnbench.harness import machine

    monkeypatch.setattr(machine, "_NVIDIA_DRIVER", tmp_path / "no-driver")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    assert main(["run", "--device", "cuda", "--backend", "numpy", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: this machine has no NVIDIA GPU driver" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "runs").exists()
