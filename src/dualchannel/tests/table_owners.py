"""Find the writes a module makes on another app's models, by reading its source (issue 10); and
(``status_writes``, at the end) the writes to a status column that has a state machine.

An app's rows are written by that app's own modules; another app asks the owner through a
public service (``eligibility_plan_use``, ``prescription_mark_dispensed``, …). ``cross_app_writes``
parses one module of an app and reports every write it can attribute to a model of another app:

- ``obj.save()`` / ``obj.delete()`` on a model instance;
- ``create``, ``update``, ``bulk_create``, ``bulk_update``, ``get_or_create``,
  ``update_or_create``, ``delete`` (and ``create_user``) on a manager or a queryset
  (``X.objects.create(``, ``X.objects.filter(...).update(``, ``rx.items.create(``);
- ``obj.field = …`` / ``obj.field += …`` on an instance's stored field (a change another module
  then saves; other attributes set for a page, ``batch.expired``, are not columns);
- ``transition(obj, …)``: ``core.statemachine``'s mover called on the instance (it writes the
  status, the history row and the audit event).

What it knows about a name it learns from the source, without running it:

- model classes imported ``from dualchannel.<app>.models import X`` (also ``as Y``), ``from
  .models import X``, ``from ..models import X`` (any relative level), and a models module
  imported as a name (``from dualchannel.<app> import models as m``, ``import
  dualchannel.<app>.models as m``; then ``m.X``) — at module level or inside a function (a
  function's imports count for the whole module);
- what a local name holds, from its assignments in source order: ``X(...)``, ``X.objects``,
  queryset methods (``filter``, ``select_for_update``, …), ``get`` / ``first`` / ``create`` /
  …, ``lock_rows(qs)`` and ``lock_ids(X, ids)`` (core.locks), ``get_object_or_404``, ``for``
  loops over rows, the first element of ``get_or_create``, ``a or b``, ``a if c else b``;
- parameters and variables annotated with a model (``eligibility: Eligibility | None``);
- the return annotation of a function of the same module or of a ``dualchannel`` module it
  imports (``-> Prescription``; ``-> tuple[Priced, dict, Eligibility | None]`` element by
  element), also through a module name (``services.lock_person(...)``);
- attribute chains through the model's own fields: ``rx.eligibility`` (a foreign key or a
  one-to-one, either side) is that model's row, ``rx.items`` (a reverse foreign key or a
  many-to-many) its manager.

What it cannot see — a write it misses is not allowed for that: a name with neither annotation
nor a model-typed origin (``def f(obj): obj.save()``, a dict's value, a method's ``self.x``, a
form's or an admin's ``save()``), a function without a return annotation, ``apps.get_model``,
``getattr`` / ``setattr`` with a computed name, raw SQL, a queryset method it does not list,
and writes made inside another app's function other than a mover above (that function is its
owner's business). Branches are not followed: the last assignment in the source wins.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models

ROOT = Path(__file__).resolve().parents[1]  # src/dualchannel
PACKAGE = ROOT.name

INSTANCE_WRITES = frozenset({"save", "delete"})
MANAGER_WRITES = frozenset(
    {
        "create",
        "update",
        "bulk_create",
        "bulk_update",
        "get_or_create",
        "update_or_create",
        "delete",
        "create_user",
        "create_superuser",
    }
)
QUERYSET_METHODS = frozenset(
    {
        "all",
        "filter",
        "exclude",
        "select_related",
        "prefetch_related",
        "select_for_update",
        "order_by",
        "only",
        "defer",
        "annotate",
        "alias",
        "distinct",
        "using",
        "none",
        "reverse",
        "union",
    }
)
INSTANCE_METHODS = frozenset(
    {"get", "first", "last", "latest", "earliest", "create", "create_user", "create_superuser"}
)
# the state machines' mover (``transition(row, to, ...)``, the only one since issue 10): moving
# another app's row writes it (its status, history row and audit event)
STATUS_MOVES = frozenset({"transition"})
CLASS = "class"  # the model class itself
MANAGER = "manager"  # X.objects, a reverse relation's manager
QUERYSET = "queryset"
INSTANCE = "instance"
ROWS = "rows"  # a list or a dict of instances


@dataclass(frozen=True)
class Held:
    """What an expression holds: ``kind`` of ``model``."""

    kind: str
    model: type[models.Model]


@dataclass(frozen=True)
class Write:
    module: str  # path relative to src/dualchannel
    line: int
    model: str  # app_label.Model
    how: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.how} on {self.model}"


def app_folders() -> dict[str, str]:
    """Each app's folder name under src/dualchannel → its app label."""
    return {
        Path(c.path).name: c.label
        for c in apps.get_app_configs()
        if c.name.startswith(f"{PACKAGE}.") and Path(c.path).parent == ROOT
    }


@cache
def _models_offered(module_name: str) -> dict[str, type[models.Model]]:
    """The concrete models of our apps that ``module_name`` (a models module) offers by name."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return {}
    labels = set(app_folders().values())
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, models.Model)
        and not value._meta.abstract
        and value._meta.app_label in labels
    }


def _is_models_module(name: str) -> bool:
    return name.startswith(f"{PACKAGE}.") and name.rsplit(".", 1)[-1] == "models"


def _module_path(name: str) -> Path | None:
    """The source file of a dualchannel module (``dualchannel.settlement.services``)."""
    if not name.startswith(f"{PACKAGE}."):
        return None
    base = ROOT.joinpath(*name.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


class _Imports:
    """What a module's imports name: model classes, models modules, other dualchannel modules
    and functions (for their return annotations)."""

    def __init__(self, tree: ast.Module, package: str) -> None:
        self.package = package  # dotted package of the module
        self.models: dict[str, type[models.Model]] = {}
        self.models_modules: dict[str, dict[str, type[models.Model]]] = {}
        self.modules: dict[str, str] = {}  # local name → dotted module
        self.functions: dict[str, tuple[str, str]] = {}  # local name → (module, name)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                self._import_from(node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name.startswith(f"{PACKAGE}."):
                        self._module(alias.asname, alias.name)

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.package.split(".")
        base = parts[: len(parts) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def _module(self, local: str, dotted: str) -> None:
        if _is_models_module(dotted):
            self.models_modules[local] = _models_offered(dotted)
        elif _module_path(dotted) is not None:
            self.modules[local] = dotted

    def _import_from(self, node: ast.ImportFrom) -> None:
        source = self._absolute(node)
        if not source.startswith(f"{PACKAGE}.") and source != PACKAGE:
            return
        offered = _models_offered(source) if _is_models_module(source) else {}
        for alias in node.names:
            local = alias.asname or alias.name
            if alias.name in offered:
                self.models[local] = offered[alias.name]
            elif _module_path(f"{source}.{alias.name}") is not None:
                self._module(local, f"{source}.{alias.name}")
            elif _module_path(source) is not None:
                self.functions[local] = (source, alias.name)


@cache
def _parsed(dotted: str) -> tuple[ast.Module, _Imports] | None:
    path = _module_path(dotted)
    if path is None:
        return None
    tree = ast.parse(path.read_text(), filename=str(path))
    package = dotted if path.name == "__init__.py" else dotted.rsplit(".", 1)[0]
    return tree, _Imports(tree, package)


@cache
def _returns(dotted: str, name: str) -> Held | tuple[Held | None, ...] | None:
    """What the top-level function ``name`` of module ``dotted`` returns, by its annotation."""
    parsed = _parsed(dotted)
    if parsed is None:
        return None
    tree, imports = parsed
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return _Reader(imports, tree).returns_of(node)
    return None


class _Reader:
    """Types of expressions in one module (names in scopes pushed by the visitor)."""

    def __init__(self, imports: _Imports, tree: ast.Module) -> None:
        self.imports = imports
        self.local_functions = {
            n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.scopes: list[dict[str, Held | None]] = [
            {name: Held(CLASS, model) for name, model in imports.models.items()}
        ]

    def lookup(self, name: str) -> Held | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def returns_of(self, node: ast.FunctionDef | ast.AsyncFunctionDef):
        returns = node.returns
        if isinstance(returns, ast.Constant) and isinstance(returns.value, str):
            returns = _parse_annotation(returns.value)
        if (
            isinstance(returns, ast.Subscript)
            and isinstance(returns.value, ast.Name)
            and returns.value.id == "tuple"
            and isinstance(returns.slice, ast.Tuple)
        ):
            return tuple(self.annotation(e) for e in returns.slice.elts)
        return self.annotation(returns)

    def annotation(self, node: ast.expr | None) -> Held | None:
        """The instance (or rows) an annotation names: ``X``, ``X | None``, ``list[X]``."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node = _parse_annotation(node.value)
        if node is None:
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.annotation(node.left) or self.annotation(node.right)
        if isinstance(node, ast.Subscript):
            outer = node.value
            outer_name = (
                outer.attr if isinstance(outer, ast.Attribute) else getattr(outer, "id", "")
            )
            if outer_name == "Optional":
                return self.annotation(node.slice)
            if outer_name in {"list", "Sequence", "Iterable", "set", "QuerySet", "frozenset"}:
                inner = self.annotation(node.slice)
                return Held(ROWS, inner.model) if inner else None
            if outer_name in {"dict", "Mapping"} and isinstance(node.slice, ast.Tuple):
                inner = self.annotation(node.slice.elts[-1])
                return Held(ROWS, inner.model) if inner else None
            return None
        held = self.infer(node)
        return Held(INSTANCE, held.model) if held is not None and held.kind == CLASS else None

    def infer(self, node: ast.expr | None) -> Held | None:
        """What ``node`` holds, when the source says."""
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Call):
            held = self.call_returns(node)
            return held if isinstance(held, Held) else None
        if isinstance(node, ast.Subscript):
            base = self.infer(node.value)
            if base is not None and base.kind in {QUERYSET, ROWS}:
                return base if isinstance(node.slice, ast.Slice) else Held(INSTANCE, base.model)
            return None
        if isinstance(node, ast.BoolOp):
            return next(filter(None, map(self.infer, node.values)), None)
        if isinstance(node, ast.IfExp):
            return self.infer(node.body) or self.infer(node.orelse)
        if isinstance(node, ast.NamedExpr | ast.Await):
            return self.infer(node.value)
        return None

    def _attribute(self, node: ast.Attribute) -> Held | None:
        value = node.value
        if (
            isinstance(value, ast.Name)
            and value.id in self.imports.models_modules
            and self.lookup(value.id) is None
        ):
            model = self.imports.models_modules[value.id].get(node.attr)
            return Held(CLASS, model) if model is not None else None
        base = self.infer(node.value)
        if base is None:
            return None
        if base.kind == CLASS:
            managers = {m.name for m in base.model._meta.managers}
            if node.attr in managers | {"_default_manager", "_base_manager"}:
                return Held(MANAGER, base.model)
            return None
        if base.kind == INSTANCE:
            return _relation(base.model, node.attr)
        return None

    def call_returns(self, node: ast.Call):
        """What a call returns: the held value, a tuple of them (``tuple[...]``), or None."""
        func = node.func
        first = self.infer(node.args[0]) if node.args else None
        if isinstance(func, ast.Name) and self.lookup(func.id) is None:
            rows = first is not None and first.kind in {QUERYSET, MANAGER, ROWS}
            if func.id in {"lock_rows", "list", "sorted", "tuple", "set"} and rows:
                return Held(ROWS, first.model)
            if func.id == "lock_ids" and first is not None and first.kind == CLASS:
                return Held(ROWS, first.model)
            if func.id == "get_object_or_404" and first is not None:
                return Held(INSTANCE, first.model)
            if func.id in self.local_functions:
                return self.returns_of(self.local_functions[func.id])
            if func.id in self.imports.functions:
                return _returns(*self.imports.functions[func.id])
        if isinstance(func, ast.Attribute):
            value = func.value
            if (
                isinstance(value, ast.Name)
                and value.id in self.imports.modules
                and self.lookup(value.id) is None
            ):
                return _returns(self.imports.modules[value.id], func.attr)
            base = self.infer(func.value)
            if base is not None and base.kind in {MANAGER, QUERYSET}:
                if func.attr in QUERYSET_METHODS:
                    return Held(QUERYSET, base.model)
                if func.attr in INSTANCE_METHODS:
                    return Held(INSTANCE, base.model)
                if func.attr in {"get_or_create", "update_or_create"}:
                    return (Held(INSTANCE, base.model), None)
                if func.attr == "in_bulk":
                    return Held(ROWS, base.model)
            if base is not None and base.kind == ROWS and func.attr in {"get", "pop"}:
                return Held(INSTANCE, base.model)
            if base is not None and base.kind == ROWS and func.attr == "values":
                return base
            return None
        held = self.infer(func)
        return Held(INSTANCE, held.model) if held is not None and held.kind == CLASS else None


def _parse_annotation(text: str) -> ast.expr | None:
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError:
        return None


def _relation(model: type[models.Model], attr: str) -> Held | None:
    """``row.attr`` through the model's fields: a related row, or a related manager."""
    try:
        field = model._meta.get_field(attr)
    except FieldDoesNotExist:  # a property, a method, an ``_id`` column
        return None
    related = getattr(field, "related_model", None)
    if not field.is_relation or not isinstance(related, type):
        return None
    if field.many_to_one or field.one_to_one:
        return Held(INSTANCE, related)
    return Held(MANAGER, related)


def _is_column(model: type[models.Model], attr: str) -> bool:
    """``attr`` is a stored field of ``model`` (by name or column attribute, ``filing_id``)."""
    return any(attr in (f.name, f.attname) for f in model._meta.concrete_fields)


class _Checker(ast.NodeVisitor):
    """Walks one module in source order, binding names and recording cross-app writes."""

    def __init__(self, module: str, label: str, reader: _Reader) -> None:
        self.module = module
        self.label = label
        self.reader = reader
        self.writes: list[Write] = []

    # recording
    def _record(self, node: ast.AST, held: Held | None, how: str) -> None:
        if held is None or held.model._meta.app_label == self.label:
            return
        line = getattr(node, "lineno", 0)
        self.writes.append(Write(self.module, line, held.model._meta.label, how))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            base = self.reader.infer(func.value)
            if base is not None and (
                (base.kind == INSTANCE and func.attr in INSTANCE_WRITES)
                or (base.kind in {MANAGER, QUERYSET} and func.attr in MANAGER_WRITES)
            ):
                self._record(node, base, f".{func.attr}()")
        name = getattr(func, "attr", None) or getattr(func, "id", "")
        if name in STATUS_MOVES and node.args:
            moved = self.reader.infer(node.args[0])
            if moved is not None and moved.kind == INSTANCE:
                self._record(node, moved, f"status moved by {name}()")
        self.generic_visit(node)

    def _changed(self, target: ast.expr, node: ast.AST, how: str) -> None:
        if isinstance(target, ast.Attribute):
            base = self.reader.infer(target.value)
            if base is not None and base.kind == INSTANCE and _is_column(base.model, target.attr):
                self._record(node, base, f"{how} .{target.attr}")
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._changed(element, node, how)

    # binding
    def _bind(self, target: ast.expr, held) -> None:
        if isinstance(target, ast.Name):
            self.reader.scopes[-1][target.id] = held if isinstance(held, Held) else None
        elif isinstance(target, ast.Tuple | ast.List):
            values = held if isinstance(held, tuple) else ()
            for n, element in enumerate(target.elts):
                self._bind(element, values[n] if n < len(values) else None)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, None)

    def _value(self, node: ast.expr):
        if isinstance(node, ast.Call):
            return self.reader.call_returns(node)
        return self.reader.infer(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        held = self._value(node.value)
        for target in node.targets:
            self._changed(target, node, "assignment to")
            self._bind(target, held)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._changed(node.target, node, "assignment to")
        annotated = self.reader.annotation(node.annotation)
        self._bind(node.target, annotated or (self._value(node.value) if node.value else None))

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        self._changed(node.target, node, "augmented assignment to")

    def _loop_target(self, target: ast.expr, iterable: ast.expr) -> None:
        held = self.reader.infer(iterable)
        if (
            isinstance(iterable, ast.Call)
            and isinstance(iterable.func, ast.Name)
            and iterable.func.id == "enumerate"
            and iterable.args
            and isinstance(target, ast.Tuple)
            and len(target.elts) == 2
        ):
            inner = self.reader.infer(iterable.args[0])
            rows = inner is not None and inner.kind in {QUERYSET, MANAGER, ROWS}
            each = Held(INSTANCE, inner.model) if rows else None
            self._bind(target, (None, each))
            return
        if held is not None and held.kind in {QUERYSET, MANAGER, ROWS}:
            self._bind(target, Held(INSTANCE, held.model))
        else:
            self._bind(target, None)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self._loop_target(node.target, node.iter)
        for statement in node.body + node.orelse:
            self.visit(statement)

    visit_AsyncFor = visit_For

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self.visit(node.iter)
        self._loop_target(node.target, node.iter)
        for condition in node.ifs:
            self.visit(condition)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        self.reader.scopes.append({})
        try:
            for generator in node.generators:
                self.visit_comprehension(generator)
            for part in ("elt", "key", "value"):
                if hasattr(node, part):
                    self.visit(getattr(node, part))
        finally:
            self.reader.scopes.pop()

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._bind(item.optional_vars, None)
        for statement in node.body:
            self.visit(statement)

    visit_AsyncWith = visit_With

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        for decorator in getattr(node, "decorator_list", []):
            self.visit(decorator)
        for default in [*node.args.defaults, *filter(None, node.args.kw_defaults)]:
            self.visit(default)
        arguments = node.args
        scope: dict[str, Held | None] = {}
        for arg in [
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            *filter(None, [arguments.vararg, arguments.kwarg]),
        ]:
            scope[arg.arg] = self.reader.annotation(arg.annotation)
        self.reader.scopes.append(scope)
        try:
            for statement in node.body if isinstance(node.body, list) else [node.body]:
                self.visit(statement)
        finally:
            self.reader.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function


def modules() -> Iterator[tuple[str, str, Path]]:
    """(path relative to src/dualchannel, app label, file) of each module of each app, without
    its tests and migrations."""
    for folder, label in sorted(app_folders().items()):
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            yield "/".join(parts), label, path


def cross_app_writes(source: str, *, module: str, label: str) -> list[Write]:
    """The writes ``source`` — the module at ``module`` (path under src/dualchannel) of the app
    labelled ``label`` — makes on other apps' models."""
    tree = ast.parse(source)
    checker = _Checker(module, label, _reader(tree, module))
    for statement in tree.body:
        checker.visit(statement)
    return checker.writes


def _reader(tree: ast.Module, module: str) -> _Reader:
    parts = module.removesuffix(".py").split("/")
    dotted = ".".join([PACKAGE, *parts])
    if parts[-1] == "__init__":
        package = dotted.removesuffix(".__init__")
    else:
        package = dotted.rsplit(".", 1)[0]
    return _Reader(_Imports(tree, package), tree)


def all_cross_app_writes() -> list[Write]:
    found: list[Write] = []
    for module, label, path in modules():
        found.extend(cross_app_writes(path.read_text(), module=module, label=label))
    return found


# --- status writes (issue 10, point 2) ---------------------------------------------------------

StatusFields = Mapping[type[models.Model], frozenset[str]]
StatusEnums = Mapping[str, Iterable[type[models.TextChoices]]]


class _StatusChecker(_Checker):
    """Records writes to a status column (``fields``: the machines' columns of each model), in
    any app: ``obj.status = …``, ``setattr(obj, "status", …)``, ``qs.update(status=…)``,
    ``bulk_update(rows, ["status"])``, ``update_or_create(defaults={"status": …})``.

    A row it cannot type (``def f(row): row.status = …``) counts when the value assigned is one of
    the statuses of a machine on a column of that name (``enums``): ``S.CANCELLED`` where ``S``
    names the machine's ``TextChoices`` (imported, or an alias such as ``S = FilingStatus``), or
    the string of one of its values."""

    def __init__(
        self, module: str, reader: _Reader, fields: StatusFields, enums: StatusEnums, tree
    ) -> None:
        super().__init__(module, "", reader)
        self.fields = fields
        self.enums = {column: list(classes) for column, classes in enums.items()}
        self.aliases: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                self.aliases.update({a.asname: a.name for a in node.names if a.asname})
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Name)
            ):
                self.aliases[node.targets[0].id] = node.value.id

    def _is_machine_status(self, column: str, value: ast.expr | None) -> bool:
        classes = self.enums.get(column, [])
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return any(value.value in c.values for c in classes)
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
            name, seen = value.value.id, set()
            while name in self.aliases and name not in seen:
                seen.add(name)
                name = self.aliases[name]
            return any(c.__name__ == name and value.attr in c.names for c in classes)
        return False

    def _record(self, node: ast.AST, held: Held | None, how: str) -> None:
        """Cross-app writes are the other check's business."""

    def _status(self, node: ast.AST, held: Held | None, names: Iterable[str], how: str) -> None:
        if held is None:
            return
        for name in sorted(self.fields.get(held.model, frozenset()) & set(names)):
            line = getattr(node, "lineno", 0)
            self.writes.append(Write(self.module, line, held.model._meta.label, f"{how} .{name}"))

    def _changed(self, target: ast.expr, node: ast.AST, how: str) -> None:
        if isinstance(target, ast.Attribute):
            base = self.reader.infer(target.value)
            if base is not None and base.kind == INSTANCE:
                self._status(node, base, [target.attr], how)
            elif base is None and self._is_machine_status(
                target.attr, getattr(node, "value", None)
            ):
                line = getattr(node, "lineno", 0)
                what = f"{how} .{target.attr} of an untyped row (a machine's status)"
                self.writes.append(Write(self.module, line, "?", what))
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._changed(element, node, how)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 2:
            held = self.reader.infer(node.args[0])
            name = node.args[1]
            if held is not None and held.kind == INSTANCE and isinstance(name, ast.Constant):
                self._status(node, held, [str(name.value)], "setattr of")
        if isinstance(func, ast.Attribute):
            held = self.reader.infer(func.value)
            if held is not None and held.kind in {MANAGER, QUERYSET}:
                self._status(node, held, _status_names(func.attr, node), f".{func.attr}() of")
        super().visit_Call(node)


def _strings(node: ast.expr | None) -> list[str]:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


def _status_names(method: str, node: ast.Call) -> list[str]:
    """The columns a manager's or queryset's write call names."""
    keywords = {k.arg: k.value for k in node.keywords if k.arg}
    if method == "update":
        return list(keywords)
    if method == "bulk_update":
        return _strings(node.args[1] if len(node.args) > 1 else keywords.get("fields"))
    if method == "update_or_create" and isinstance(keywords.get("defaults"), ast.Dict):
        keys = keywords["defaults"].keys
        return [k.value for k in keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return []


def status_writes(
    source: str, *, module: str, fields: StatusFields, enums: StatusEnums
) -> list[Write]:
    """The writes ``source`` (the module at ``module``, a path under src/dualchannel) makes to a
    status column named in ``fields`` (or, on a row it cannot type, to a status of ``enums``)."""
    tree = ast.parse(source)
    checker = _StatusChecker(module, _reader(tree, module), fields, enums, tree)
    for statement in tree.body:
        checker.visit(statement)
    return checker.writes


def all_status_writes(
    fields: StatusFields, enums: StatusEnums, *, skip: Iterable[str] = ()
) -> list[Write]:
    """``status_writes`` of every module of every app but ``skip``."""
    found: list[Write] = []
    for module, _, path in modules():
        if module not in skip:
            source = path.read_text()
            found.extend(status_writes(source, module=module, fields=fields, enums=enums))
    return found
