"""Tests import fixtures and helpers, never another test module (issue 10, point 5).

A test module imported by another runs its module-level code twice, drags its fixtures and its
``pytestmark`` along and ties two files that should change alone. What tests share lives in a
``conftest.py`` (fixtures), ``tests/factories.py`` or a helper module whose name does not start
with ``test_`` (``tests/helpers.py``, ``tests/access_matrix.py``, ``tests/page_world.py``).

The check parses every module under ``src/dualchannel`` (tests, conftests, helpers and
production code alike) and reports each import, at module level or inside a function, of a
``test_*.py`` module of the project: ``import dualchannel.x.tests.test_y``, ``from
dualchannel.x.tests.test_y import z``, ``from .test_y import z``, ``from . import test_y``,
``from dualchannel.x.tests import test_y``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # src/dualchannel
PACKAGE = "dualchannel"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, source: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module or name the source imports, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # ``from package import test_module``
                yield node.lineno, f"{module}.{alias.name}"


def is_test_module(dotted: str) -> bool:
    """A ``test_*.py`` file of the project (not a name that merely starts with ``test_``)."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE or not parts[-1].startswith("test_"):
        return False
    return ROOT.parent.joinpath(*parts).with_suffix(".py").is_file()


def imports_of_test_modules(path: Path, source: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT.parent)}:{line} imports {dotted}"
        for line, dotted in imported(path, source)
        if is_test_module(dotted)
    ]


def test_no_module_imports_a_test_module():
    offenders = [
        found
        for path in sorted(ROOT.rglob("*.py"))
        if "migrations" not in path.parts
        for found in imports_of_test_modules(path, path.read_text(encoding="utf-8"))
    ]

    assert not offenders, "move what is shared into a conftest.py or a helper module:\n" + (
        "\n".join(offenders)
    )


def test_the_check_sees_every_form_of_import():
    # given: a test module of the project and a module beside it that imports it five ways
    target = ROOT / "tests" / "test_architecture_tests.py"
    beside = ROOT / "tests" / "anything.py"
    source = "\n".join(
        [
            "import dualchannel.tests.test_architecture_tests",
            "from dualchannel.tests.test_architecture_tests import ROOT",
            "from .test_architecture_tests import ROOT",
            "from . import test_architecture_tests",
            "def f():",
            "    from dualchannel.tests import test_architecture_tests",
            # not test modules: a helper module, a name starting with test_, a foreign package
            "from .page_world import INSIDERS",
            "from dualchannel.tests.page_world import test_anything",
            "from django.test import TestCase",
        ]
    )
    assert target.is_file()

    found = imports_of_test_modules(beside, source)

    assert [entry.split(":")[1].split()[0] for entry in found] == ["1", "2", "3", "4", "6"]
