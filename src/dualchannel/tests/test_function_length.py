"""Functions stay readable (issue 10, point 5): no function of the product (tests, migrations
and scripts aside) is over 80 lines; a longer one is split into validate / lock / write steps."""

from __future__ import annotations

import ast
from pathlib import Path

import dualchannel

LIMIT = 80
ROOT = Path(dualchannel.__file__).parent


def long_functions(source: str, limit: int = LIMIT) -> list[tuple[str, int]]:
    """(name, lines) of each function in ``source`` longer than ``limit`` lines."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append((node.name, length))
    return found


def product_modules() -> list[Path]:
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if not {"tests", "migrations"} & set(path.relative_to(ROOT).parts)
        and path.name != "conftest.py"
    ]


def test_no_product_function_is_over_80_lines():
    # given every module of the product
    # when its functions are measured (decorators aside, docstring included)
    long = [
        f"{path.relative_to(ROOT)}: {name} ({length} lines)"
        for path in product_modules()
        for name, length in long_functions(path.read_text(encoding="utf-8"))
    ]

    # then none is longer than the limit
    assert not long, "split these into steps:\n" + "\n".join(long)


def test_the_measure_sees_a_long_function_and_passes_a_short_one():
    # given a function of 82 lines and one of 3
    body = "".join(f"    x{i} = {i}\n" for i in range(81))
    source = f"def long():\n{body}\n\ndef short():\n    a = 1\n    return a\n"

    # then only the long one is reported, with its length
    assert long_functions(source) == [("long", 82)]
    assert len(product_modules()) > 100
