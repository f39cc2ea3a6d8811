"""Per-module figures of the last ``mutmut run`` (read from ``mutants/**/*.py.meta``).

Usage: python tools/mutation_summary.py   (after ``mutmut run``; see docs/mutation.md)
A timeout counts as killed: the mutant made the tests hang, which is a failure. "no tests":
mutants of a function that no test in the selection reaches (they count as not killed).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code


def main() -> None:
    print(
        f"{'module':<12} {'mutants':>8} {'killed':>7} {'timeout':>8} {'survived':>9} "
        f"{'no tests':>9} {'rate':>7}"
    )
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"].values()
        counts = Counter(status_by_exit_code[code] for code in codes)
        total = sum(counts.values())
        caught = counts["killed"] + counts["timeout"]
        name = meta.name.removesuffix(".py.meta")
        print(
            f"{name:<12} {total:>8} {counts['killed']:>7} {counts['timeout']:>8} "
            f"{counts['survived']:>9} {counts['no tests']:>9} {caught / total:>7.1%}"
        )


if __name__ == "__main__":
    main()
