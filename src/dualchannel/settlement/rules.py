"""Which benefit rule and which payment standard apply: read from data, never from code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from dualchannel.catalog.models import Drug
from dualchannel.catalog.selectors import (
    NOT_IN_REGIONAL_LIST,
    OUTSIDE_AGREEMENT,
    DrugStanding,
    drug_standing,
    payment_standards_on,
)
from dualchannel.core import refcache
from dualchannel.core.errors import DomainError
from dualchannel.registry.models import PaymentStandardRule, PolicyProfile, Region, RegionLevel
from dualchannel.registry.profiles import profile_for
from dualchannel.registry.regions import ancestors

from . import error_codes as codes
from .engine import FEN, Parameters
from .models import BenefitRule, ListingPrice


def _in_force(on: date) -> Q:
    return Q(effective_from__lte=on) & (Q(effective_to__isnull=True) | Q(effective_to__gte=on))


def benefit_rule_for(
    *, region: Region, insurance_type: str, category: str, hospital_level: int | None, on: date
) -> BenefitRule:
    """The nearest region's rule in force on ``on`` (the region itself first, then its ancestors);
    within a region a rule for the hospital's level before one for any level."""
    chain = ancestors(region)
    # read once per worker and day while the rules are unchanged (core.refcache)
    rules = refcache.cached(
        ("settlement.benefit_rules", region.code, insurance_type, category, hospital_level, on),
        (BenefitRule._meta.db_table,),
        lambda: tuple(
            BenefitRule.objects.filter(
                _in_force(on),
                region_id__in=[r.code for r in chain],
                insurance_type=insurance_type,
                category=category,
            ).filter(Q(hospital_level=hospital_level) | Q(hospital_level__isnull=True))
        ),
    )
    for r in chain:
        mine = [rule for rule in rules if rule.region_id == r.code]
        if mine:
            mine.sort(
                key=lambda rule: (rule.hospital_level is None, -rule.effective_from.toordinal())
            )
            return mine[0]
    raise DomainError(
        codes.NO_BENEFIT_RULE,
        f"{region.name}未配置该险种、待遇类别的待遇政策参数，无法结算",
    )


def parameters_of(rule: BenefitRule) -> Parameters:
    return Parameters(
        deductible=rule.deductible,
        fund_ratio=rule.fund_ratio,
        annual_ceiling=rule.annual_ceiling,
        first_self_pay_ratio=rule.first_self_pay_ratio,
        critical_illness_deductible=rule.critical_illness_deductible,
        critical_illness_ratio=rule.critical_illness_ratio,
        critical_illness_ceiling=rule.critical_illness_ceiling,
        assistance_ratio=rule.assistance_ratio,
        assistance_ceiling=rule.assistance_ceiling,
        commercial_deductible=rule.commercial_deductible,
        commercial_ratio=rule.commercial_ratio,
        commercial_ceiling=rule.commercial_ceiling,
    )


def parameters_snapshot(rule: BenefitRule) -> dict[str, str | None]:
    """The parameters as settled, kept with the settlement (a later rule change alters nothing)."""
    params = parameters_of(rule)
    return {name: None if v is None else str(v) for name, v in vars(params).items()} | {
        "rule_id": str(rule.pk),
        "med_type": rule.med_type,
        "ceiling_group": rule.ceiling_group,
        "source": rule.source,
    }


def check_first_self_pay(rule: BenefitRule, profile: PolicyProfile | None) -> None:
    """SD §3: a province may cap the first self-pay ratio (≤ 20 %); a rule above it is refused."""
    cap = profile.first_self_pay_ratio_max if profile else None
    if cap is not None and rule.first_self_pay_ratio > cap:
        raise DomainError(
            codes.FIRST_SELF_PAY_ABOVE_CAP,
            f"乙类先行自付比例不得高于{(cap * 100).normalize():f}%",
            fields={"first_self_pay_ratio": [f"不高于{cap}"]},
        )


def standing_of(
    drug: Drug, *, region: Region, profile: PolicyProfile | None, on: date
) -> DrugStanding:
    """The drug's standing where it is dispensed (the treating place's catalogue) on ``on``: the
    region's lists in force and the agreement period plus the grace its profile sets [SD §1,
    CX art. 3, 4, 6]."""
    grace = profile.agreement_grace_days if profile else None
    return drug_standing(drug, region, on, grace_days=grace)


def listing_facts(standing: DrugStanding) -> dict[str, bool]:
    """The ``payable.LineFacts`` a drug's standing gives (separately paid, in force)."""
    return {
        "separately_paid": standing.separately_paid,
        "within_agreement": standing.reason != OUTSIDE_AGREEMENT,
        "in_regional_list": standing.reason != NOT_IN_REGIONAL_LIST,
    }


def province_of(region: Region) -> Region | None:
    """The province a region lies in (whose listing prices apply [CX art. 10])."""
    return next((r for r in ancestors(region) if r.level == RegionLevel.PROVINCE), None)


@dataclass(frozen=True)
class PackageStandard:
    amount: Decimal  # per package, in fen
    source: str  # national / listing
    confidential: bool


def _fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def national_package_standard(
    drug: Drug, *, specification: str, unit: str, package_unit: str, pack_size: Decimal, on: date
) -> PackageStandard | None:
    """The national standard of one package: per pricing unit (片, 粒, 支) × the units per
    package, or per package unit as it is. The lowest applicable one when several compare."""
    standards = [s for s in payment_standards_on(drug, on) if s.amount is not None]
    same_spec = [s for s in standards if specification and s.specification == specification]
    for standard in sorted(same_spec or standards, key=lambda s: s.amount):
        if standard.unit and standard.unit == package_unit:
            return PackageStandard(standard.amount, "national", standard.is_confidential)
        if standard.unit and standard.unit == unit:
            amount = _fen(standard.amount * pack_size)
            return PackageStandard(amount, "national", standard.is_confidential)
    return None


def package_standard(
    drug: Drug,
    *,
    profile: PolicyProfile | None,
    province: Region | None,
    manufacturer: str,
    specification: str,
    unit: str,
    package_unit: str,
    pack_size: Decimal,
    on: date,
) -> PackageStandard | None:
    """CX art. 10: negotiated drugs at the national standard; under that profile a generic of the
    same generic name at the province's listing price. The actual price, when lower, is paid as
    it is — the engine never pays above the price. Confidential standards are used, never shown."""
    rule = profile.payment_standard_rule if profile else PaymentStandardRule.NATIONAL
    if rule == PaymentStandardRule.NATIONAL_PROVINCIAL_ACTUAL and province is not None:
        listing = (
            ListingPrice.objects.filter(
                _in_force(on),
                region=province,
                drug=drug,
                manufacturer=manufacturer,
                specification=specification,
            )
            .order_by("-effective_from")
            .first()
        )
        if listing is not None:
            return PackageStandard(listing.price, "listing", False)
    return national_package_standard(
        drug,
        specification=specification,
        unit=unit,
        package_unit=package_unit,
        pack_size=pack_size,
        on=on,
    )


RULES_FILE = Path(__file__).resolve().parent / "data" / "benefit_rules.json"
_DECIMALS = (
    "deductible",
    "fund_ratio",
    "annual_ceiling",
    "first_self_pay_ratio",
    "critical_illness_deductible",
    "critical_illness_ratio",
    "critical_illness_ceiling",
    "assistance_ratio",
    "assistance_ceiling",
    "commercial_deductible",
    "commercial_ratio",
    "commercial_ceiling",
)


# Absent means none; a ceiling absent means no ceiling, and the fund ratio must be given.
_ZERO_WHEN_MISSING = tuple(n for n in _DECIMALS if not n.endswith("_ceiling") and n != "fund_ratio")


def _decimal(row: int, name: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise DomainError(codes.INVALID_RULE, f"第{row}条：{name} 不是数字") from exc
    if not number.is_finite() or number < 0:
        raise DomainError(codes.INVALID_RULE, f"第{row}条：{name} 应为非负数")
    return number


def benefit_rules_load(path: Path = RULES_FILE) -> int:
    """Load (or refresh) benefit rules from a JSON file; all or nothing. Returns rows loaded."""

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    loaded = 0
    with transaction.atomic():
        for number, raw in enumerate(data["rules"], 1):
            region = Region.objects.filter(code=raw["region"]).first()
            if region is None:
                raise DomainError(codes.INVALID_RULE, f"第{number}条：未知区划 {raw['region']}")
            values = {name: _decimal(number, name, raw.get(name)) for name in _DECIMALS}
            for name in _ZERO_WHEN_MISSING:
                values[name] = values[name] or Decimal("0.00")
            rule = BenefitRule(
                region=region,
                insurance_type=raw["insurance_type"],
                category=raw["category"],
                hospital_level=raw.get("hospital_level"),
                med_type=raw["med_type"],
                ceiling_group=raw["ceiling_group"],
                effective_from=date.fromisoformat(raw["effective_from"]),
                effective_to=date.fromisoformat(raw["effective_to"])
                if raw.get("effective_to")
                else None,
                source=raw["source"][:300],
                **values,
            )
            try:
                rule.full_clean(validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                raise DomainError(
                    codes.INVALID_RULE, f"第{number}条：{'；'.join(exc.messages)}"
                ) from exc
            try:
                check_first_self_pay(rule, profile_for(region))
            except DomainError as exc:
                raise DomainError(exc.code, f"第{number}条：{exc.message}") from exc
            BenefitRule.objects.update_or_create(
                region=region,
                insurance_type=rule.insurance_type,
                category=rule.category,
                hospital_level=rule.hospital_level,
                effective_from=rule.effective_from,
                defaults={
                    f.name: getattr(rule, f.name)
                    for f in BenefitRule._meta.concrete_fields
                    if f.name
                    not in (
                        "id",
                        "region",
                        "insurance_type",
                        "category",
                        "hospital_level",
                        "effective_from",
                        "created_at",
                    )
                },
            )
            loaded += 1
    return loaded
