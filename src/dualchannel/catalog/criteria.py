"""Eligibility criteria as data: CEL expressions over a patient context, and their evaluation.

Expressions are Common Expression Language (never Python ``eval``) over this context — every
top-level name is optional, and a criterion that needs a missing name or key is *unknown*, not
failed:

==================  =========================================================================
``patient``         map: ``age`` (int, whole years), ``sex`` ("1" male, "2" female)
``diagnoses``       list of ICD-10 医保版2.0 codes, e.g. ``"C34.901"``
``labs``            map code → number (always a double: write ``>= 8.0``, not ``>= 8``)
``genes``           map gene → result, e.g. ``"ALK": "positive"``, ``"EGFR": "exon19del"``
``prior_therapies`` list of strings, e.g. ``"EGFR-TKI"``, ``"platinum"``
``insurance_type``  ``"310"`` employee or ``"390"`` resident
``setting``         ``"outpatient"`` or ``"inpatient"``
==================  =========================================================================

Examples: ``patient.age >= 18``, ``diagnoses.exists(d, d.startsWith("C34"))``,
``genes["ALK"] == "positive"``, ``labs["LDL_C"] >= 1.8``.

Two CEL runtimes, one meaning:

- ``cel-expr-python`` (Google's C++ CEL) evaluates: each expression text is compiled once per
  process (``_program``, cached; a criteria set's texts never change once published) against an
  environment that declares only the context variables and no functions beyond CEL's standard
  library — no host function is reachable from an expression.
- ``cel-python`` (interpreted) is the reference: it parses and checks an expression when an
  officer authors it (``validate_expression``: its error messages), and it evaluates the rare
  context whose facts are not of the documented shape (a gene result that is a number, diagnoses
  given as a string…), where the two runtimes' type rules differ (C++ CEL's heterogeneous
  equality says ``1 == "x"`` is false, cel-python calls it an error, i.e. *unknown*).
  ``tests/test_criteria_runtimes.py`` runs every authored criterion on both and compares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib.metadata import version
from typing import Any

import celpy
from cel_expr_python import cel
from celpy import celtypes
from lark import Token, Tree

from dualchannel.core.errors import DomainError

from .models import CriteriaSet, Criterion, CriterionKind

CONTEXT_VARIABLES = (
    "patient",
    "diagnoses",
    "labs",
    "genes",
    "prior_therapies",
    "insurance_type",
    "setting",
)
MACROS = {"exists", "all", "exists_one", "map", "filter"}
MAX_EXPRESSION_LENGTH = 2000

MET = "met"
NOT_MET = "not_met"
UNKNOWN = "unknown"
_MET_RESULT = (MET, "")
_NOT_MET_RESULT = (NOT_MET, "")
ELIGIBLE = "eligible"
INELIGIBLE = "ineligible"
INCOMPLETE = "incomplete"
OUTCOME_LABELS = {MET: "符合", NOT_MET: "不符合", UNKNOWN: "待确认"}
VERDICT_LABELS = {ELIGIBLE: "符合认定条件", INELIGIBLE: "不符合认定条件", INCOMPLETE: "信息不全"}

_ENV = celpy.Environment()
# Every variable is dynamic: the facts come from HIS records and forms, not a schema.
_COMPILED_ENV = cel.NewEnv(variables={name: cel.Type.DYN for name in CONTEXT_VARIABLES})
RUNTIME = f"cel-expr-python {version('cel-expr-python')} (Google's C++ CEL, compiled once)"
_MISSING_MARKERS = ("Key not found in map", "No value with name")
_ERROR = cel.Type.ERROR


def _expression_error(message: str) -> DomainError:
    return DomainError("catalog.invalid_expression", message, fields={"expression": [message]})


@lru_cache(maxsize=4096)
def _compile(expression: str):
    """The parsed, checked program of an expression (cached: texts are immutable)."""
    if not expression or not expression.strip():
        raise _expression_error("判定表达式不能为空")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise _expression_error(f"判定表达式超过{MAX_EXPRESSION_LENGTH}个字符")
    try:
        ast = _ENV.compile(expression)
    except celpy.CELParseError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise _expression_error(f"判定表达式语法错误：{first_line}") from exc
    unknown = sorted(_free_names(ast) - set(CONTEXT_VARIABLES))
    if unknown:
        raise _expression_error(
            f"判定表达式引用了未知变量：{'、'.join(unknown)}（可用：{'、'.join(CONTEXT_VARIABLES)}）"
        )
    return _ENV.program(ast)


@lru_cache(maxsize=4096)
def _program(expression: str) -> Any:
    """The compiled program of an expression already accepted by ``_compile`` (cached)."""
    _compile(expression)
    try:
        return _COMPILED_ENV.compile(expression)
    except RuntimeError as exc:
        # e.g. a function CEL does not declare: ``eval("1")``, ``os.system(…)``
        raise _expression_error(f"判定表达式无法编译：{_compiled_message(str(exc))}") from exc


def _compiled_message(text: str) -> str:
    """The first line of a C++ CEL status, without its ``INVALID_ARGUMENT: ERROR:`` prefix."""
    first_line = text.splitlines()[0] if text else ""
    return first_line.split("ERROR: ", 1)[-1][:200]


def _free_names(ast: Tree) -> set[str]:
    """Top-level identifiers of an expression, minus the variables bound by macros."""
    names: set[str] = set()
    bound: set[str] = set()
    for node in ast.iter_subtrees():
        if node.data == "ident" and node.children:
            names.add(str(node.children[0]))
        elif node.data == "member_dot_arg" and len(node.children) >= 3:
            method = node.children[1]
            if isinstance(method, Token) and str(method) in MACROS:
                first = _bare_ident(node.children[2])
                if first:
                    bound.add(first)
    return names - bound


def _bare_ident(exprlist: Any) -> str:
    """The name if the first argument of a macro is a plain identifier."""
    if not isinstance(exprlist, Tree) or not exprlist.children:
        return ""
    idents = [n for n in exprlist.children[0].iter_subtrees() if n.data == "ident"]
    other = [n for n in exprlist.children[0].iter_subtrees() if n.data in ("member_dot", "literal")]
    if len(idents) == 1 and not other and idents[0].children:
        return str(idents[0].children[0])
    return ""


_PROBE_MISSING = object()
PROBE_CONTEXT = {
    "patient": {"age": 50, "sex": "1"},
    "diagnoses": ["C34.901"],
    "prior_therapies": ["platinum"],
    "insurance_type": "310",
    "setting": "outpatient",
}


def validate_expression(expression: str) -> None:
    """Refuse an expression that does not compile, names an unknown variable or is not boolean.

    The type check evaluates it once against a probe context in which every ``labs`` key it
    names is a number and every ``genes`` key a string; a comparison of a lab value with an
    integer literal (``>= 8`` instead of ``>= 8.0``) is caught here.
    """
    program = _compile(expression)
    probe = dict(PROBE_CONTEXT)
    probe["labs"] = {key: 1.0 for key in _index_keys(expression, "labs")}
    probe["genes"] = {key: "positive" for key in _index_keys(expression, "genes")}
    activation = to_activation(probe)
    try:
        value = program.evaluate(activation.reference)
    except celpy.CELEvalError as exc:
        if not _is_missing_data(exc):
            raise _expression_error(f"判定表达式类型不匹配：{_short(exc)}") from exc
        value = _PROBE_MISSING
    if value is not _PROBE_MISSING and not isinstance(value, celtypes.BoolType):
        raise _expression_error("判定表达式的结果必须是真/假")
    # cel-python's messages first; then the compiled runtime must accept it (cel-python takes
    # an undeclared function such as ``eval("1")`` for missing data) and agree on the probe.
    compiled = _program(expression)
    if value is not _PROBE_MISSING:
        outcome, reason = _evaluate_compiled(compiled, activation.compiled)
        if outcome != (MET if bool(value) else NOT_MET):
            raise _expression_error(f"判定表达式无法在编译执行环境中求值：{reason}")


def _index_keys(expression: str, variable: str) -> set[str]:
    keys: set[str] = set()
    ast = _ENV.compile(expression)
    for node in ast.iter_subtrees():
        if node.data != "member_index" or len(node.children) < 2:
            continue
        target = node.children[0]
        idents = [n for n in target.iter_subtrees() if n.data == "ident"]
        if len(idents) == 1 and str(idents[0].children[0]) == variable:
            literals = [n for n in node.children[1].iter_subtrees() if n.data == "literal"]
            if literals:
                raw = str(literals[0].children[0])
                if raw[:1] in "\"'" and raw[-1:] == raw[:1]:
                    keys.add(raw[1:-1])
    return keys


def _short(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    return str(args[0] if args else exc)[:200]


def _is_missing_data(exc: celpy.CELEvalError) -> bool:
    """A missing variable, map key or member (``KeyError``), as opposed to a type error."""
    args = exc.args
    return len(args) > 1 and args[1] is KeyError


class Activation:
    """A patient context made ready for both runtimes (built once per evaluated set)."""

    __slots__ = ("_reference", "compiled", "facts")

    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts
        # None when a fact is not of the documented shape: the reference evaluates then.
        self.compiled = _COMPILED_ENV.Activation(facts) if _well_formed(facts) else None
        self._reference: dict[str, Any] | None = None

    @property
    def reference(self) -> dict[str, Any]:
        """The cel-python values of the facts (built on first use)."""
        if self._reference is None:
            self._reference = {
                name: (
                    celtypes.MapType(
                        {
                            celtypes.StringType(key): celtypes.DoubleType(number)
                            for key, number in value.items()
                        }
                    )
                    if name == "labs"
                    else celpy.json_to_cel(value)
                )
                for name, value in self.facts.items()
            }
        return self._reference


def to_activation(context: Mapping[str, Any]) -> Activation:
    """The known variables present in ``context``; lab values become doubles."""
    facts: dict[str, Any] = {}
    for name in CONTEXT_VARIABLES:
        if name not in context or context[name] is None:
            continue
        value = context[name]
        if name == "labs":
            facts[name] = {
                str(key): float(number) for key, number in dict(value).items() if number is not None
            }
        elif name == "patient":
            patient = {k: v for k, v in dict(value).items() if v is not None}
            if "age" in patient:
                patient["age"] = int(patient["age"])
            if "sex" in patient:
                patient["sex"] = str(patient["sex"])
            facts[name] = patient
        else:
            facts[name] = value
    return Activation(facts)


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(type(item) is str for item in value)


def _is_text_map(value: Any, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, dict) and all(
        type(key) is str and type(item) in kinds for key, item in value.items()
    )


def _well_formed(facts: Mapping[str, Any]) -> bool:
    """Every fact of the documented shape, where the two runtimes' type rules coincide."""
    for name, value in facts.items():
        if name in ("diagnoses", "prior_therapies"):
            ok = _is_text_list(value)
        elif name == "patient":
            ok = _is_text_map(value, (str, int))
        elif name == "labs":
            ok = _is_text_map(value, (float,))
        elif name == "genes":
            ok = _is_text_map(value, (str,))
        else:
            ok = type(value) is str
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class CriterionResult:
    code: str
    kind: str
    group: str
    text: str  # the policy text the criterion checks
    outcome: str  # met | not_met | unknown
    reason: str = ""

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS[self.outcome]


@dataclass(frozen=True)
class CriteriaResult:
    verdict: str  # eligible | ineligible | incomplete
    items: list[CriterionResult] = field(default_factory=list)

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS[self.verdict]

    @property
    def failing(self) -> list[CriterionResult]:
        return [item for item in self.items if item.outcome == NOT_MET]

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "items": [asdict(item) for item in self.items]}


def evaluate_condition(expression: str, activation: Activation) -> tuple[str, str]:
    """``(outcome, reason)`` of one expression: met, not met, or unknown with the reason."""
    if activation.compiled is None:
        return evaluate_condition_reference(expression, activation)
    try:
        program = _program(expression)
    except DomainError as exc:
        return UNKNOWN, exc.message
    return _evaluate_compiled(program, activation.compiled)


def _evaluate_compiled(program: Any, compiled_activation: Any) -> tuple[str, str]:
    result = program.eval(compiled_activation)
    value = result.value()
    if value is True:
        return _MET_RESULT
    if value is False:
        return _NOT_MET_RESULT
    if result.type() == _ERROR:
        message = str(value)
        if any(marker in message for marker in _MISSING_MARKERS):
            return UNKNOWN, "缺少判定所需的数据"
        return UNKNOWN, f"无法判定：{message.split(': ', 1)[-1][:200]}"
    return UNKNOWN, "判定表达式的结果不是真/假"


def evaluate_condition_reference(expression: str, activation: Activation) -> tuple[str, str]:
    """The same as ``evaluate_condition``, on cel-python's interpreter (the reference)."""
    try:
        program = _compile(expression)
    except DomainError as exc:
        return UNKNOWN, exc.message
    try:
        value = program.evaluate(activation.reference)
    except celpy.CELEvalError as exc:
        if _is_missing_data(exc):
            return UNKNOWN, "缺少判定所需的数据"
        return UNKNOWN, f"无法判定：{_short(exc)}"
    if not isinstance(value, celtypes.BoolType):
        return UNKNOWN, "判定表达式的结果不是真/假"
    return (MET, "") if bool(value) else (NOT_MET, "")


def evaluate_items(
    items: Iterable[Criterion],
    context: Mapping[str, Any] | None,
    answers: Mapping[str, bool | None] | None = None,
    *,
    activation: Activation | None = None,
) -> CriteriaResult:
    """``activation``: the context already converted, when one patient meets many sets."""
    activation = activation if activation is not None else to_activation(context or {})
    answers = answers or {}
    results: list[CriterionResult] = []
    for item in items:
        if item.kind == CriterionKind.CONDITION:
            outcome, reason = evaluate_condition(item.expression, activation)
        else:
            answer = answers.get(item.code)
            if answer is None:
                outcome, reason = UNKNOWN, "待医师确认"
            else:
                outcome, reason = (MET, "") if answer else (NOT_MET, "")
        results.append(
            CriterionResult(item.code, item.kind, item.group, item.text, outcome, reason)
        )
    return CriteriaResult(verdict=verdict_of(results), items=results)


def verdict_of(results: list[CriterionResult]) -> str:
    """All required met and one per group met → eligible; a required or a whole group not met →
    ineligible; otherwise incomplete."""
    required = [r for r in results if not r.group]
    groups: dict[str, list[CriterionResult]] = {}
    for r in results:
        if r.group:
            groups.setdefault(r.group, []).append(r)
    if any(r.outcome == NOT_MET for r in required):
        return INELIGIBLE
    if any(all(r.outcome == NOT_MET for r in members) for members in groups.values()):
        return INELIGIBLE
    if all(r.outcome == MET for r in required) and all(
        any(r.outcome == MET for r in members) for members in groups.values()
    ):
        return ELIGIBLE
    return INCOMPLETE


def evaluate_criteria(
    criteria_set: CriteriaSet,
    context: Mapping[str, Any] | None,
    answers: Mapping[str, bool | None] | None = None,
) -> CriteriaResult:
    """Evaluate every criterion of ``criteria_set`` against a patient context and answers."""
    return evaluate_items(criteria_set.items.order_by("position"), context, answers)


# --- the payment restriction at settlement [HB art. 31(5), 36; AH annex note 3(3)] ---------------

# The clauses a settlement can judge from a prescription alone: its diagnoses and its setting.
RESTRICTION_VARIABLES = frozenset({"diagnoses", "setting"})
NOT_JUDGED_AT_SETTLEMENT = "结算时不判定（非诊断、就医场景条件）"


@lru_cache(maxsize=4096)
def expression_variables(expression: str) -> frozenset[str]:
    """The context variables an expression names (empty when it does not compile)."""
    try:
        _compile(expression)
    except DomainError:
        return frozenset()
    return frozenset(_free_names(_ENV.compile(expression)) & set(CONTEXT_VARIABLES))


def is_restriction_clause(item: Criterion) -> bool:
    """A condition over the diagnoses or the setting (outpatient / inpatient)."""
    return item.kind == CriterionKind.CONDITION and bool(
        expression_variables(item.expression) & RESTRICTION_VARIABLES
    )


def evaluate_restriction(
    items: Iterable[Criterion], *, diagnoses: Sequence[str], setting: str
) -> CriteriaResult | None:
    """A criteria set's diagnosis and setting clauses judged on a prescription's diagnoses
    (ICD-10 codes) and setting, or None when the set has no such clause (nothing
    machine-readable to judge: the line is then within its restriction).

    Only those clauses are evaluated, with only those two facts; every other item (an
    attestation, a gene, lab, age or prior-therapy condition) is *unknown* here: it was judged
    when the eligibility was granted or the physician prescribed. So the verdict is
    ``INELIGIBLE`` only when a required diagnosis clause fails or every alternative of a group
    fails on the diagnosis (a clause such as ``patient.age >= 18 && diagnoses…`` fails when its
    diagnosis part does). Without diagnoses (a manual claim with a paper prescription) every
    diagnosis clause is unknown.
    """
    items = list(items)
    if not any(is_restriction_clause(item) for item in items):
        return None
    context: dict[str, Any] = {"setting": setting} if setting else {}
    if diagnoses:
        context["diagnoses"] = [str(code) for code in diagnoses]
    activation = to_activation(context)
    results: list[CriterionResult] = []
    for item in items:
        if is_restriction_clause(item):
            outcome, reason = evaluate_condition(item.expression, activation)
        else:
            outcome, reason = UNKNOWN, NOT_JUDGED_AT_SETTLEMENT
        results.append(
            CriterionResult(item.code, item.kind, item.group, item.text, outcome, reason)
        )
    return CriteriaResult(verdict=verdict_of(results), items=results)
