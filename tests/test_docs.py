"""The README and docs/ against the code: the column glossary, every command and option they
name, and every relative link. Docs that drift from the code fail here."""

from __future__ import annotations

import argparse
import csv
import itertools
import re
from pathlib import Path

import pytest

from rnnbench.cli import build_parser, main
from rnnbench.report.glossary import GLOSSARY, render_markdown

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMANDS_MD = ROOT / "docs" / "commands.md"
#: options in this file are asv's, not rnnbench's or pytest's
ASV_MD = ROOT / "docs" / "asv.md"
GLOSSARY_START, GLOSSARY_END = "<!-- glossary:start -->\n", "<!-- glossary:end -->"


def code_chunks(text: str) -> list[str]:
    """Every line of a fenced code block and every inline code span of a Markdown text."""
    chunks, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            chunks.append(line)
        else:
            chunks += re.findall(r"`([^`]+)`", line)
    return chunks


def invocations(chunk: str, program: str) -> list[list[str]]:
    """The arguments of every shell command in ``chunk`` that runs ``program`` (directly,
    by path, or as ``python -m program``), after environment assignments; comments dropped."""
    found = []
    for segment in re.split(r"&&|;", re.sub(r"\s#.*", "", chunk)):
        tokens = segment.split()
        while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):
            tokens.pop(0)
        name = tokens[0].split("/")[-1] if tokens else ""
        if name == program:
            found.append(tokens[1:])
        elif name.startswith("python") and tokens[1:3] == ["-m", program]:
            found.append(tokens[3:])
    return found


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-parsers of ``parser`` by command name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string ``parser`` accepts."""
    return {s for action in parser._actions for s in action.option_strings}


def option_names(tokens: list[str]) -> list[str]:
    """The ``--long`` options among ``tokens`` (without an ``=value``)."""
    return [t.split("=")[0] for t in tokens if t.startswith("--")]


def unknown_rnnbench_usage(args: list[str]) -> list[str]:
    """What in one ``rnnbench ARGS`` command line the real parser does not know."""
    parser = build_parser()
    commands = subcommands(parser)
    problems = []
    while args and args[0].startswith("-"):
        if args[0] not in options(parser):
            problems.append(f"rnnbench {args[0]}")
        args = args[1:]
    if not args:
        return problems
    command, rest = args[0], args[1:]
    if command.isupper():  # a placeholder such as COMMAND: any command's options
        known = set().union(*(options(sub) for sub in commands.values()))
    elif command in commands:
        known = options(commands[command])
    else:
        return [*problems, f"rnnbench {command} (no such command)"]
    return problems + [f"rnnbench {command} {o}" for o in option_names(rest) if o not in known]


def is_pytest_option(config: pytest.Config, name: str) -> bool:
    """Whether the running pytest (with rnnbench's and hypothesis's plugins) has ``name``."""
    try:
        config.getoption(name)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_command_and_option_named_exists(path: Path, pytestconfig: pytest.Config) -> None:
    cli_options = set().union(*(options(s) for s in subcommands(build_parser()).values()))
    problems = []
    for chunk in code_chunks(path.read_text()):
        for args in invocations(chunk, "rnnbench"):
            problems += unknown_rnnbench_usage(args)
        for args in invocations(chunk, "pytest"):
            problems += [o for o in option_names(args) if not is_pytest_option(pytestconfig, o)]
        if chunk.startswith("--") and path != ASV_MD:
            name = option_names(chunk.split())[0]
            if name not in cli_options and not is_pytest_option(pytestconfig, name):
                problems.append(name)
    assert not problems, f"{path.name} names what neither rnnbench nor the kit has: {problems}"


def test_the_command_reference_names_every_option() -> None:
    parser = build_parser()
    text = COMMANDS_MD.read_text()
    named = set(re.findall(r"--[a-z][a-z-]*", text))
    missing = [
        f"{name} {option}"
        for name, sub in [("", parser), *subcommands(parser).items()]
        for option in options(sub) - {"-h", "--help"}
        if option.startswith("--") and option not in named
    ]
    assert not missing, f"docs/commands.md does not describe: {missing}"


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of the headings of a Markdown file."""
    headings = re.findall(r"^#+\s+(.*)$", path.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{path.name} links to what does not exist: {broken}"


def test_the_command_reference_holds_the_glossary_as_generated() -> None:
    text = COMMANDS_MD.read_text()
    assert GLOSSARY_START in text and GLOSSARY_END in text
    table = text[text.index(GLOSSARY_START) + len(GLOSSARY_START) : text.index(GLOSSARY_END)]
    assert table == render_markdown(), (
        "docs/commands.md's column table differs from rnnbench/report/glossary.py: replace "
        "the lines between the glossary markers with the output of "
        "`python -m rnnbench.report.glossary`"
    )


def _markdown_headers(text: str) -> set[str]:
    """The column names of every table in a Markdown text, except the glossary's own table
    (``render_markdown``: its header is "column | meaning")."""
    lines = text.splitlines()
    glossary_header = render_markdown([]).splitlines()[0]
    return {
        cell.strip()
        for line, below in itertools.pairwise(lines)
        if line.startswith("|") and below.startswith("|---") and line != glossary_header
        for cell in line.strip("|").split("|")
    }


def test_the_glossary_explains_exactly_the_columns_the_commands_write(tmp_path, capsys) -> None:
    tiny = ["--backend", "numpy", "--quiet", "--out", str(tmp_path)]
    size = ["--size", "6,2,3,4", "--repeats", "3", "--warmup", "0", "--no-decay"]
    decay = ["--size", "6,1,2,2", "--activation", "identity", "--alpha", "1.1"]
    assert main(["run", *size, *tiny]) == 0
    assert main(["decay", *decay, *tiny]) == 0
    assert main(["train", "--scenario", "short-lag", "--steps", "2", *tiny]) == 0
    capsys.readouterr()
    assert main(["backends", "--json"]) == 0
    columns = set(re.findall(r'^\s+"(\w+)":', capsys.readouterr().out, flags=re.MULTILINE))
    for path in (tmp_path / "runs").glob("*/*.csv"):
        with path.open() as f:
            columns |= set(next(csv.reader(f), []))
    for path in (tmp_path / "runs").glob("*/report.md"):
        columns |= _markdown_headers(path.read_text())
    assert columns == set(GLOSSARY), (
        f"written but not in the glossary: {sorted(columns - set(GLOSSARY))}; "
        f"in the glossary but never written: {sorted(set(GLOSSARY) - columns)}"
    )
