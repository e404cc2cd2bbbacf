"""Pure parsing of list rows: payment standards, restriction clauses, dosage form, flags, pinyin.

Nothing here touches the database, so every rule can be tested on strings alone. The derived
flags are heuristics (documented at each rule); officers correct them through
``services.drug_update_flags`` and a re-import never overwrites a flag of an existing drug.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from pypinyin import Style, lazy_pinyin

from .models import SpecialControl

FEN = Decimal("0.01")
OPENING = "(（[［【"
CLOSING = ")）]］】"
TOP_LEVEL_SEPARATORS = "；;"
CONFIDENTIAL_MARK = "*"
TIERED_PREFIX = "见备注"


class ParseError(ValueError):
    """A value that does not follow the list's format; the message is Chinese."""


# --- payment standards ---


@dataclass(frozen=True)
class ParsedStandard:
    """One payment standard of one specification, as printed in the list."""

    source_text: str
    specification: str = ""
    unit: str = ""
    amount: Decimal | None = None
    is_confidential: bool = False
    tiered_note: dict | None = None
    note: str = ""


def split_top_level(text: str) -> list[str]:
    """Split on ``；``/``;`` outside brackets (several specifications hold ``；`` inside ``[]``)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in OPENING:
            depth += 1
        elif char in CLOSING:
            if depth == 0:
                raise ParseError(f"括号不匹配：多余的「{char}」")
            depth -= 1
        if char in TOP_LEVEL_SEPARATORS and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if depth != 0:
        raise ParseError("括号不匹配：缺少右括号")
    parts.append("".join(current).strip())
    return parts


def _bracket_group(text: str, start: int) -> tuple[str, int]:
    """The content of the bracket group opening at ``start`` and the index after it.

    ``(`` and ``（`` close alike: the list sometimes opens half-width and closes full-width.
    """
    if start >= len(text) or text[start] not in "(（":
        raise ParseError("规格应写在金额后的括号内")
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth -= 1
            if depth == 0:
                return text[start + 1 : index].strip(), index + 1
    raise ParseError("括号不匹配：缺少右括号")


_AMOUNT = re.compile(r"(?P<amount>\d+(?:\.\d+)?)元(?:/(?P<unit>[\u4e00-\u9fff]{1,3}))?")
# Units a specification ends with ("10mg/片", "5ml:100mg/支", "每片含…", "1人次(…)").
UNITS = ("人次", "瓶", "片", "支", "袋", "粒", "盒", "贴", "丸", "枚", "套", "包", "剂", "喷")
_UNIT_AFTER_SLASH = re.compile(r"/(" + "|".join(UNITS) + r")")
_UNIT_EACH = re.compile(r"^(?:每|1)(" + "|".join(UNITS) + r")")


def parse_amount(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ParseError(f"金额「{text}」不是数字") from exc
    if amount <= 0:
        raise ParseError("金额必须大于零")
    if amount != amount.quantize(FEN):
        raise ParseError(f"金额「{text}」超过两位小数")
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def unit_of(specification: str) -> str:
    """The unit a standard is priced by, read from its specification ('' when not stated)."""
    found = _UNIT_AFTER_SLASH.findall(specification)
    if found:
        return found[-1]
    each = _UNIT_EACH.match(specification)
    return each.group(1) if each else ""


def parse_payment_standard_part(part: str) -> ParsedStandard:
    """``52.60元(10mg/瓶)``, ``479.00元/盒(…)``, or ``113.53元(60mg/粒)(备注)``."""
    match = _AMOUNT.match(part)
    if match is None:
        raise ParseError(f"「{part}」应为「金额元(规格)」格式")
    amount = parse_amount(match.group("amount"))
    rest = part[match.end() :].strip()
    if not rest:
        raise ParseError(f"「{part}」缺少规格")
    specification, position = _bracket_group(rest, 0)
    if not specification:
        raise ParseError(f"「{part}」的规格为空")
    note = ""
    rest = rest[position:].strip()
    if rest:
        note, position = _bracket_group(rest, 0)
        if rest[position:].strip():
            raise ParseError(f"「{part}」规格后有无法识别的内容")
    unit = match.group("unit") or unit_of(specification)
    return ParsedStandard(
        source_text=part, specification=specification, unit=unit, amount=amount, note=note
    )


def parse_payment_standards(text: str, tiered_note: dict | None = None) -> list[ParsedStandard]:
    """All payment standards of one list row; ``*`` is a confidential standard (备注1)."""
    text = (text or "").strip()
    if not text:
        raise ParseError("支付标准不能为空")
    if text == CONFIDENTIAL_MARK:
        return [ParsedStandard(source_text=text, is_confidential=True)]
    if text.startswith(TIERED_PREFIX):
        # Row 398: a tiered price table (备注2) instead of one amount.
        rest = text[len(TIERED_PREFIX) :]
        bracket = min((i for i in (rest.find("("), rest.find("（")) if i >= 0), default=-1)
        specification = ""
        if bracket >= 0:
            specification, end = _bracket_group(rest, bracket)
            if rest[end:].strip():
                raise ParseError(f"「{text}」规格后有无法识别的内容")
        note = tiered_note if tiered_note else {"text": text}
        return [
            ParsedStandard(
                source_text=text,
                specification=specification,
                unit=unit_of(specification),
                tiered_note=note,
            )
        ]
    parts = split_top_level(text)
    if any(not part for part in parts):
        raise ParseError("支付标准中有空的分项（多余的分号）")
    standards = [parse_payment_standard_part(part) for part in parts]
    specs = [s.specification for s in standards]
    if len(set(specs)) != len(specs):
        raise ParseError("同一规格出现了两个支付标准")
    return standards


# --- restriction clauses ---

CONJUNCTIVE_MARKER = "应同时符合以下条件"
_FIRST_CLAUSE = re.compile(r"[：:]\s*1[.、．]")


@dataclass(frozen=True)
class RestrictionClauses:
    """A restriction split into a common scope, alternative indications and joint conditions."""

    text: str
    head: str = ""  # the text before 「应同时符合以下条件」 (all of it when there is none)
    scope: str = ""  # text before a numbered list that all alternatives share
    alternatives: list[str] = field(default_factory=list)  # 「限：1.…；2.…」: any one suffices
    requirements: list[str] = field(default_factory=list)  # 「应同时符合以下条件：1.…」: all


def _numbered(text: str) -> tuple[str, list[str]] | None:
    """``(preamble, clauses)`` of a numbered list, or None when there is none."""
    first = _FIRST_CLAUSE.search(text)
    if first is None:
        return None
    preamble = text[: first.start() + 1]
    starts = [first.end()]
    ends: list[int] = []
    number = 2
    position = first.end()
    while True:
        nxt = re.compile(rf"[；;。]\s*{number}[.、．]").search(text, position)
        if nxt is None:
            break
        ends.append(nxt.start())
        starts.append(nxt.end())
        position = nxt.end()
        number += 1
    ends.append(len(text))
    clauses = [_clean_clause(text[s:e]) for s, e in zip(starts, ends, strict=True)]
    return preamble.strip(), [c for c in clauses if c]


def _clean_clause(text: str) -> str:
    text = text.strip().rstrip("；;，,").strip()
    return text[:-1] if text.endswith("。") else text


def parse_restriction(text: str | None) -> RestrictionClauses:
    text = (text or "").strip()
    if not text:
        return RestrictionClauses(text="")
    head, tail = text, ""
    marker = text.find(CONJUNCTIVE_MARKER)
    if marker > 0:
        head, tail = text[:marker].strip(), text[marker:]
    requirements: list[str] = []
    if tail:
        found = _numbered(tail)
        requirements = found[1] if found else [tail]
    found = _numbered(head)
    if found is None:
        return RestrictionClauses(text=text, head=head, requirements=requirements)
    preamble, alternatives = found
    scope = "" if preamble in ("限：", "限:") else preamble
    return RestrictionClauses(
        text=text, head=head, scope=scope, alternatives=alternatives, requirements=requirements
    )


# --- dosage form and flags ---

INJECTION = "注射剂"
# Longest suffix first; matched on the generic name without trailing qualifiers like (Ⅱ).
DOSAGE_FORM_SUFFIXES = sorted(
    [
        "注射用浓溶液",
        "注射液",
        "缓释注射液",
        "口服溶液用散",
        "吸入粉雾剂用胶囊",
        "吸入粉雾剂",
        "吸入气雾剂",
        "吸入溶液",
        "鼻喷雾剂",
        "口服混悬液",
        "口服溶液",
        "口腔粘膜溶液",
        "口颊粘膜溶液",
        "干混悬剂",
        "玻璃体内植入剂",
        "植入剂",
        "眼用凝胶",
        "凝胶贴膏",
        "滴眼液",
        "眼内冲洗液",
        "血滤置换液",
        "腹膜透析液",
        "口溶膜",
        "糖浆",
        "乳膏",
        "栓",
        "缓释片",
        "肠溶片",
        "口崩片",
        "咀嚼片",
        "片",
        "软胶囊",
        "缓释胶囊",
        "肠溶胶囊",
        "胶囊",
        "肠溶颗粒",
        "颗粒",
        "散",
        "乳剂",
        "组合包装",
    ],
    key=len,
    reverse=True,
)
INJECTION_SUFFIXES = ("注射用浓溶液", "注射液", "缓释注射液")
_QUALIFIER = re.compile(r"(?:\s*[(（][^()（）]*[)）])+$")


def base_name(generic_name: str) -> str:
    """The name without trailing qualifiers: ``盐酸二甲双胍缓释片(Ⅳ)`` → ``盐酸二甲双胍缓释片``."""
    return _QUALIFIER.sub("", generic_name).strip()


def dosage_form_of(generic_name: str) -> str:
    """Dosage form from the name: 注射用…/…注射液 → 注射剂, else the name's form suffix."""
    name = base_name(generic_name)
    if name.startswith("注射用"):
        return INJECTION
    for suffix in DOSAGE_FORM_SUFFIXES:
        if name.endswith(suffix):
            return INJECTION if suffix in INJECTION_SUFFIXES else suffix
    return ""


def is_anti_cancer(category_code: str) -> bool:
    """AH annex: anti-tumour drugs are ATC L01 (antineoplastics) and L02 (endocrine therapy)."""
    return category_code.upper().startswith(("XL01", "XL02"))


# CX art. 3 excludes special-control drugs. Ingredients named in the national control lists
# (麻醉药品品种目录 / 精神药品品种目录) that occur in negotiated lists; radioactive drugs are
# recognised by a nuclide in brackets such as 碘[131I] or 锝[99mTc].
NARCOTIC_INGREDIENTS = ("羟考酮", "吗啡", "芬太尼", "哌替啶", "美沙酮", "可待因", "氢可酮")
PSYCHOTROPIC_INGREDIENTS = ("咪达唑仑", "瑞马唑仑", "地西泮", "哌甲酯", "唑吡坦", "地达西尼")
_RADIONUCLIDE = re.compile(r"[\[［]\d+m?[A-Z][a-z]?[\]］]")


def special_control_of(generic_name: str) -> str:
    if _RADIONUCLIDE.search(generic_name):
        return SpecialControl.RADIOACTIVE
    if any(word in generic_name for word in NARCOTIC_INGREDIENTS):
        return SpecialControl.NARCOTIC
    if any(word in generic_name for word in PSYCHOTROPIC_INGREDIENTS):
        return SpecialControl.PSYCHOTROPIC
    return SpecialControl.NONE


# Biologic injectables are stored and shipped at 2–8 °C (HB art. 29: cold-chain delivery).
BIOLOGIC_WORDS = (
    "单抗",
    "单克隆抗体",
    "胰岛素",
    "肽",
    "生长激素",
    "促红素",
    "泊汀",
    "格司亭",
    "凝血因子",
    "凝血素",
    "糖酶",
    "西普",
    "司亭",
    "血小板生成素",
    "诺西那生",
    "干扰素",
    "融合蛋白",
)
BIOLOGIC_CATEGORIES = ("XL01F", "XL04AB", "XL04AC", "XL04AG", "XL04AJ", "XR03DX")


def needs_cold_chain(generic_name: str, category_code: str, dosage_form: str) -> bool:
    if dosage_form != INJECTION:
        return False
    if category_code.upper().startswith(BIOLOGIC_CATEGORIES):
        return True
    return any(word in generic_name for word in BIOLOGIC_WORDS)


# --- pinyin ---


def _ascii_only(syllables: list[str]) -> str:
    return "".join(ch for ch in "".join(syllables).lower() if ch.isascii() and ch.isalnum())


def pinyin_of(name: str) -> tuple[str, str]:
    """``(initials, full)``: 洛拉替尼片 → ``("lltnp", "luolatinipian")``; Latin and digits kept."""
    keep = list  # non-Han characters are kept one by one, then filtered to ASCII letters/digits
    initials = lazy_pinyin(name, style=Style.FIRST_LETTER, errors=keep)
    full = lazy_pinyin(name, style=Style.NORMAL, errors=keep)
    return _ascii_only(initials), _ascii_only(full)
