"""Rule files of the kit: ``--rnnbench-skip-tests`` and ``--rnnbench-xfail``.

A file has one rule a line, ``BACKEND TEST_PATTERN  # reason`` (the reason is optional,
blank lines and ``#`` comments are ignored). The pattern is matched against a test's
function name (``test_bptt_matches_reference``), its name with parameters
(``test_bptt_matches_reference[numpy-float64-tanh]``) and its file and name
(``test_agreement.py::test_bptt_matches_reference[numpy-float64-tanh]``); ``*`` matches
any text and ``?`` one character, while ``[`` and ``]`` are themselves, so
``test_bptt_matches_reference[*float64*tanh*]`` picks parametrized cases.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest


class UnmatchedRuleWarning(UserWarning):
    """A line of a --rnnbench-skip-tests or --rnnbench-xfail file matched no collected test."""


@dataclass(frozen=True)
class Rule:
    """One line of a rule file."""

    backend: str
    pattern: str
    reason: str

    def matches(self, backend: str | None, names: tuple[str, ...]) -> bool:
        """Whether the rule is for ``backend`` and its pattern matches one of ``names``."""
        regex = _pattern_regex(self.pattern)
        return backend == self.backend and any(regex.fullmatch(name) for name in names)


@cache
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` as wildcards; every other character, brackets included, literal."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def read_rules(option: str, path: Path) -> list[Rule]:
    """The rules of the file ``path`` given to ``option``; a usage error naming the file and
    line when it cannot be read or a line is not ``BACKEND TEST_PATTERN [# reason]``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise pytest.UsageError(f"{option}: cannot read {path}: {exc}") from exc
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line, _, reason = raw.partition("#")
        words = line.split()
        if not words:
            continue
        if len(words) != 2:
            raise pytest.UsageError(
                f"{option}: {path}:{number}: expected 'BACKEND TEST_PATTERN [# reason]'"
            )
        rules.append(Rule(words[0], words[1], reason.strip() or "no reason given"))
    return rules


def names_of(item: pytest.Item) -> tuple[str, ...]:
    """The names a rule's pattern is matched against (see the module docstring)."""
    function = getattr(item, "originalname", item.name)
    return (function, item.name, f"{item.path.name}::{item.name}")


def apply_rules(items: list[pytest.Item], option: str, path: Path, backend_param: str) -> None:
    """Mark the tests that the rules of ``path`` (given to ``option``) match, by the backend
    in their parameter ``backend_param``: skipped (--rnnbench-skip-tests) or expected to fail,
    strictly (--rnnbench-xfail). Warn of each rule that matches no collected test."""
    rules = read_rules(option, path)
    used = [False] * len(rules)
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get(backend_param) if callspec is not None else None
        names = names_of(item)
        for i, rule in enumerate(rules):
            if rule.matches(backend, names):
                used[i] = True
                if option == "--rnnbench-xfail":
                    reason = f"expected to fail by {path}: {rule.reason}"
                    item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
                else:
                    item.add_marker(pytest.mark.skip(reason=f"skipped by {path}: {rule.reason}"))
    for rule, hit in zip(rules, used, strict=True):
        if not hit:
            message = f"{path}: '{rule.backend} {rule.pattern}' matches no collected test"
            warnings.warn(UnmatchedRuleWarning(message), stacklevel=1)
