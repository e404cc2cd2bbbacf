"""Traceability codes (药品追溯码): format, product prefix, and the findings a request produces.

Reference, "Identifiers": mostly 20 digits, the first 7 identifying the product; imported drugs
may carry GS1 or other codes and the platform field is 100 long. So: ≤100 letters or digits is
valid, anything but 20 digits is a warning, never a refusal.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dualchannel.core.errors import DomainError

from . import error_codes as codes
from .models import TraceCode

MAX_LENGTH = 100
STANDARD_LENGTH = 20
PREFIX_LENGTH = 7
_VALID = re.compile(r"^[0-9A-Za-z]+$")
_STANDARD = re.compile(r"^\d{20}$")


def is_standard(code: str) -> bool:
    return bool(_STANDARD.match(code))


def product_prefix(code: str) -> str:
    """The product identifier of a standard 20-digit code, else ""."""
    return code[:PREFIX_LENGTH] if is_standard(code) else ""


def warning(code: str, message: str, **facts: str) -> dict[str, str]:
    return {"code": code, "message": message, **facts}


def normalise(raw: Iterable[str] | None, *, field_name: str = "trace_codes") -> list[str]:
    """Strip each code and check its shape; duplicates inside one request are refused."""
    if isinstance(raw, str):
        raise DomainError(
            codes.TRACE_CODE_INVALID, "追溯码应为列表", fields={field_name: ["应为列表"]}
        )
    result: list[str] = []
    problems: list[str] = []
    for value in raw or ():
        code = str(value).strip() if value is not None else ""
        if not code or len(code) > MAX_LENGTH or not _VALID.match(code):
            problems.append(f"{code[:40] or '（空）'}：追溯码应为1至{MAX_LENGTH}位字母或数字")
            continue
        result.append(code)
    if problems:
        raise DomainError(
            codes.TRACE_CODE_INVALID, "追溯码格式不正确", fields={field_name: problems}
        )
    repeated = sorted(c for c, n in Counter(result).items() if n > 1)
    if repeated:
        raise DomainError(
            codes.TRACE_CODE_DUPLICATE,
            "同一次提交中追溯码重复：" + "、".join(repeated[:5]),
            fields={field_name: [f"{c}：重复扫码" for c in repeated]},
        )
    return result


def check_count(
    codes_: Sequence[str], quantity: int, *, required: bool, field_name: str = "trace_codes"
) -> None:
    """One code per package: exactly ``quantity`` codes where the pharmacy scans codes."""
    if required and len(codes_) != quantity:
        raise DomainError(
            codes.TRACE_CODE_COUNT,
            f"本药店已实行追溯码扫码，数量{quantity}须对应{quantity}个追溯码，实际{len(codes_)}个",
            fields={field_name: [f"应为{quantity}个追溯码"]},
        )
    if len(codes_) > quantity:
        raise DomainError(
            codes.TRACE_CODE_COUNT,
            f"追溯码个数（{len(codes_)}）多于数量（{quantity}）",
            fields={field_name: [f"最多{quantity}个追溯码"]},
        )


def nonstandard_warnings(codes_: Iterable[str]) -> list[dict[str, str]]:
    return [
        warning(
            codes.WARN_TRACE_CODE_NONSTANDARD,
            f"追溯码{c}不是20位数字（进口药品等可能使用其他编码），请核对",
            trace_code=c,
        )
        for c in codes_
        if not is_standard(c)
    ]


def prefixes_of_other_drugs(codes_: Iterable[str], drug_id: int) -> set[str]:
    """Product prefixes among ``codes_`` that are known for another drug and not for this one."""
    prefixes = {product_prefix(c) for c in codes_} - {""}
    if not prefixes:
        return set()
    known = TraceCode.objects.filter(product_prefix__in=prefixes).values_list(
        "product_prefix", "drug_id"
    )
    mine = {p for p, d in known if d == drug_id}
    others = {p for p, d in known if d != drug_id}
    return others - mine


@dataclass
class Findings:
    """What checking the codes of a request found, refusal by refusal."""

    resold: list[TraceCode] = field(default_factory=list)
    duplicate: list[TraceCode] = field(default_factory=list)
    wrong_drug: list[str] = field(default_factory=list)
    wrong_batch: list[str] = field(default_factory=list)
    not_in_stock: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def raise_first(self, field_name: str = "trace_codes") -> None:
        """Refuse with the gravest finding; the fields list every problem code."""
        problems = (
            [f"{t.code}：已销售过" for t in self.resold]
            + [f"{t.code}：已登记" for t in self.duplicate]
            + [f"{c}：不属于该药品" for c in self.wrong_drug]
            + [f"{c}：不属于所选批次" for c in self.wrong_batch]
            + [f"{c}：不在库" for c in self.not_in_stock]
        )
        if not problems:
            return
        fields = {field_name: problems}
        if self.resold:
            raise DomainError(
                codes.TRACE_CODE_SOLD,
                "追溯码已销售过，不能再次销售（疑似重复销售或假药）：" + _few(self.resold),
                fields=fields,
            )
        if self.duplicate:
            raise DomainError(
                codes.TRACE_CODE_DUPLICATE,
                "追溯码已在库或已销售，不能重复入库：" + _few(self.duplicate),
                fields=fields,
            )
        if self.wrong_drug:
            raise DomainError(
                codes.TRACE_CODE_WRONG_DRUG,
                "追溯码与药品不符：" + "、".join(self.wrong_drug[:5]),
                fields=fields,
            )
        if self.wrong_batch:
            raise DomainError(
                codes.TRACE_CODE_WRONG_BATCH,
                "追溯码不属于所选批次，请按实物批号选择批次：" + "、".join(self.wrong_batch[:5]),
                fields=fields,
            )
        raise DomainError(
            codes.TRACE_CODE_NOT_IN_STOCK,
            "追溯码对应的药品不在本批次库存中：" + "、".join(self.not_in_stock[:5]),
            fields=fields,
        )


def _few(rows: Sequence[TraceCode]) -> str:
    return "、".join(t.code for t in rows[:5]) + ("等" if len(rows) > 5 else "")
