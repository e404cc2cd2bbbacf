"""No product module imports another module's private name (issue 10, point 3;
docs/conventions.md): what several modules share is a public function in a clearly named module.

Found from the AST of every non-test, non-migration module under src/dualchannel:
``from a.b import _x`` (also relative), ``import a.b as m`` / ``from a import b`` then ``m._x``,
``import a.b`` then ``a.b._x`` — where the name before ``._x`` resolves to a module. Dunder names
(``__version__``) are public by convention.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # src/dualchannel
SRC = ROOT.parent  # src

# (module path, private name) pairs allowed, each with its reason: none.
PENDING: set[tuple[str, str]] = set()


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def product_modules() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not {"tests", "migrations"} & set(path.relative_to(ROOT).parts)
        and not path.name.startswith("test_")
        and path.name != "conftest.py"
    )


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(dotted: str) -> bool:
    """A module of this project (a file or a package under src)."""
    base = SRC.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def absolute(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = here.split(".")
    if not is_package:
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def violations(source: str, here: str, is_package: bool = False) -> list[str]:
    """``<module>.<private name>`` for each private name the source takes from another module."""
    tree = ast.parse(source)
    found: list[str] = []
    modules: dict[str, str] = {}  # a local name bound to a module -> the module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source_module = absolute(node, here, is_package)
            for alias in node.names:
                if private(alias.name):
                    found.append(f"{source_module}.{alias.name}")
                elif is_module(f"{source_module}.{alias.name}"):
                    modules[alias.asname or alias.name] = f"{source_module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    modules[alias.asname] = alias.name
                else:  # `import a.b.c` binds `a`, and `a.b`, `a.b.c` are reachable from it
                    parts = alias.name.split(".")
                    for end in range(1, len(parts) + 1):
                        name = ".".join(parts[:end])
                        modules[name] = name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            base = dotted(node.value)
            if base in modules and modules[base] != here:
                found.append(f"{modules[base]}.{node.attr}")
    return sorted(set(found))


def product_violations() -> set[tuple[str, str]]:
    found = set()
    for path in product_modules():
        for name in violations(
            path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
        ):
            found.add((path.relative_to(ROOT).as_posix(), name))
    return found


def test_no_module_imports_another_modules_private_name():
    found = product_violations()

    assert sorted(found - PENDING) == [], (
        "make the name public in a clearly named module (docs/conventions.md)"
    )


def test_pending_lists_only_what_is_still_there():
    stale = PENDING - product_violations()

    assert sorted(stale) == [], "moved: take it off PENDING"


def test_the_check_sees_each_form():
    source = """
from dualchannel.settlement.services import _key, settle, __all__
from . import services
from .payable import _reason
from dualchannel.settlement import engine as eng
import dualchannel.settlement.rules
import dualchannel.settlement.models as m

def f(obj):
    services._digest()
    eng._round()
    dualchannel.settlement.rules._cap()
    m.Settlement._meta
    obj._private
    self_private = _local()
"""

    found = violations(source, "dualchannel.settlement.hospital")

    assert found == [
        "dualchannel.settlement.engine._round",
        "dualchannel.settlement.payable._reason",
        "dualchannel.settlement.rules._cap",
        "dualchannel.settlement.services._digest",
        "dualchannel.settlement.services._key",
    ]
