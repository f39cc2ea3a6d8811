"""The core's dependencies point one way: nothing in ``rnnbench/`` imports the adapters
(``rnnbench_backends``). Whether importing rnnbench imports a framework is checked at run
time in test_registry.py."""

from __future__ import annotations

import ast
from pathlib import Path

import rnnbench

CORE = Path(rnnbench.__file__).resolve().parent
ADAPTERS = "rnnbench_backends"


def adapter_imports(source: str) -> list[int]:
    """Line numbers of every import of ``rnnbench_backends`` (or a module in it), at any
    depth: module level, inside functions, under ``if TYPE_CHECKING``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        else:
            continue
        if any(m == ADAPTERS or m.startswith(ADAPTERS + ".") for m in modules):
            lines.append(node.lineno)
    return lines


def test_the_check_finds_every_form_of_import():
    source = (
        "import numpy, rnnbench_backends\n"
        "from rnnbench_backends.numpy_backend import NumpyBackend\n"
        "def f():\n"
        "    import rnnbench_backends.torch_backend as t\n"
        "from rnnbench import reference\n"
        "from . import rnnbench_backends_like\n"
        "import rnnbench_backendsX\n"
    )
    assert adapter_imports(source) == [1, 2, 4]


def test_no_module_of_the_core_imports_the_adapters():
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) > 10, f"found only {len(modules)} modules under {CORE}"
    offenders = [
        f"{path.relative_to(CORE.parent)}:{line}"
        for path in modules
        for line in adapter_imports(path.read_text())
    ]
    assert not offenders, f"the core imports {ADAPTERS}: {', '.join(offenders)}"
