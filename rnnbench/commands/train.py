"""`rnnbench train`: the training demo's scenarios with every selected backend, their loss
curves and outcomes (the training itself is ``rnnbench.train``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from rnnbench.commands import options
from rnnbench.commands.session import Tables, output_options, run_session
from rnnbench.errors import InputError
from rnnbench.harness.progress import Progress
from rnnbench.interface import Backend
from rnnbench.problems import DTYPES
from rnnbench.report.pages import write_train
from rnnbench.report.tables import Row, failure, status_row, text_table
from rnnbench.train import BASELINE_LOSS, SCENARIOS, Scenario, TrainConfig, train

NAME = "train"
SUMMARY = (
    "Gradient descent on a long-range task with every backend: the loss curve per "
    "backend and scenario (vanishing gradients with a long lag; exploding gradients with "
    "alpha > 1, without and with global-norm clipping)."
)
#: options that override a field of every scenario's TrainConfig
OVERRIDES = ("lr", "clip", "truncate", "lag", "task", "dtype", "seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rnnbench train`."""
    options.add_backend_option(parser)
    scenario_help = "; ".join(f"{s.name}: {s.shows}" for s in SCENARIOS.values())
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help=f"scenario, repeatable (default: all; {scenario_help})",
    )
    parser.add_argument("--steps", type=options.positive_int, default=300, help="SGD steps per run")
    parser.add_argument(
        "--lr", type=options.positive_float, help="learning rate (default: the scenario's)"
    )
    parser.add_argument(
        "--clip",
        type=options.positive_float,
        help="global-norm clipping bound for every scenario (default: the scenario's)",
    )
    parser.add_argument(
        "--truncate",
        type=options.positive_int,
        help="truncated BPTT window for every scenario (default: full BPTT)",
    )
    parser.add_argument(
        "--lag", type=options.positive_int, help="sequence length (default: the scenario's)"
    )
    parser.add_argument(
        "--task",
        choices=["recall", "adding"],
        help="recall the first input after the lag, or the adding problem (default: recall)",
    )
    parser.add_argument("--dtype", choices=DTYPES, help="precision (default: float32)")
    parser.add_argument(
        "--seed", type=options.non_negative_int, help="seed of data and initial weights"
    )
    options.add_device_option(parser)
    options.add_threads_option(parser)
    options.add_output_options(parser)


def execute(args: argparse.Namespace) -> int:
    """The training demo scenarios with every selected backend."""
    overrides = {name: getattr(args, name) for name in OVERRIDES if getattr(args, name) is not None}
    scenarios = [SCENARIOS[name] for name in dict.fromkeys(args.scenario or SCENARIOS)]
    try:
        configs = {s.name: s.config.with_(**overrides) for s in scenarios}
    except ValueError as exc:
        raise InputError(str(exc)) from exc

    def measure(backends: Mapping[str, Backend], progress: Progress) -> tuple[Tables, Row]:
        tables = train_all(backends, scenarios, configs, args.steps, progress)
        entries = {"steps": args.steps, "configs": {n: vars(c) for n, c in configs.items()}}
        return tables, entries

    finished = run_session(
        NAME,
        args.backend,
        count_tasks=lambda n_backends: len(scenarios) * n_backends,
        measure=measure,
        write=write_train,
        **output_options(args),
    )
    print(text_table(finished.tables["train_outcomes"], ["scenario", "backend", "outcome"]))
    print(f"results: {finished.folder}")
    return finished.exit_code()


def train_all(
    backends: Mapping[str, Backend],
    scenarios: Sequence[Scenario],
    configs: Mapping[str, TrainConfig],
    steps: int,
    progress: Progress,
) -> Tables:
    """Train every backend on every scenario: the tables "train_losses" (a row per step),
    "train_outcomes" (a row per run) and "status" (a row per run that failed)."""
    losses: list[Row] = []
    outcomes: list[Row] = []
    status: list[Row] = []
    for scenario in scenarios:
        config = configs[scenario.name]
        for name, backend in backends.items():
            progress.show(f"train {scenario.name} with {name}")
            base = {"scenario": scenario.name, "backend": name}
            try:
                result = train(backend, config, steps)
            except Exception as exc:
                status.append(status_row(name, f"train {scenario.name}", *failure(exc)))
            else:
                losses += [
                    {**base, "step": i, "loss": float(v), "grad_norm": float(g)}
                    for i, (v, g) in enumerate(zip(result.losses, result.grad_norms, strict=True))
                ]
                outcomes.append(
                    {
                        **base,
                        "shows": scenario.shows,
                        "outcome": result.outcome(),
                        "diverged_at": result.diverged_at,
                        "final_loss": result.final_loss,
                        "baseline": BASELINE_LOSS,
                        **vars(config),
                    }
                )
            progress.advance()
    return {"train_losses": losses, "train_outcomes": outcomes, "status": status}
