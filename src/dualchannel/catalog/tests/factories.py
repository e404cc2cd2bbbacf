"""Factories for catalogue rows (small hand-made drugs; the real list comes from the importer)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import factory

from dualchannel.catalog.models import (
    CriteriaOrigin,
    CriteriaSet,
    CriteriaStatus,
    Criterion,
    CriterionKind,
    Drug,
    ListEdition,
    ListSection,
    PaymentStandard,
    Restriction,
)
from dualchannel.catalog.parsing import pinyin_of


class ListEditionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ListEdition
        django_get_or_create = ("code",)

    code = "TEST2025"
    title = "测试目录"
    document_no = "测试〔2025〕1号"
    effective_from = date(2026, 1, 1)
    source_sha256 = "0" * 64


class DrugFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Drug

    generic_name = factory.Sequence(lambda n: f"测试替尼{n}片")
    pinyin_initials = factory.LazyAttribute(lambda o: pinyin_of(o.generic_name)[0])
    pinyin = factory.LazyAttribute(lambda o: pinyin_of(o.generic_name)[1])
    dosage_form = "片"
    category_code = "XL01EX"
    drug_class = "乙"
    section = ListSection.NEGOTIATED_WESTERN
    list_no = factory.Sequence(lambda n: n + 1)
    # A listed drug has its national code (医疗目录编码): the platform refuses stock records of
    # one without, so receipt at a connected pharmacy refuses it (set "" to test that).
    national_code = factory.Sequence(lambda n: f"XT{n:021d}")
    is_anti_cancer = True
    agreement_start = date(2026, 1, 1)
    agreement_end = date(2027, 12, 31)
    agreement_text = "2026年1月1日至2027年12月31日"
    edition = factory.SubFactory(ListEditionFactory)


class PaymentStandardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentStandard

    drug = factory.SubFactory(DrugFactory)
    edition = factory.SelfAttribute("drug.edition")
    specification = "10mg/片"
    unit = "片"
    amount = Decimal("52.60")
    is_confidential = False
    source_text = "52.60元(10mg/片)"
    effective_from = date(2026, 1, 1)

    class Params:
        confidential = factory.Trait(
            amount=None, is_confidential=True, source_text="*", specification="", unit=""
        )


class RestrictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Restriction

    drug = factory.SubFactory(DrugFactory)
    edition = factory.SelfAttribute("drug.edition")
    text = "限间变性淋巴瘤激酶(ALK)阳性的局部晚期或转移性非小细胞肺癌患者。"
    effective_from = date(2026, 1, 1)


class CriteriaSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CriteriaSet

    drug = factory.SubFactory(DrugFactory)
    version = factory.Sequence(lambda n: n + 1)
    status = CriteriaStatus.DRAFT
    origin = CriteriaOrigin.AUTHORED
    evaluation_cycle_days = 90
    required_material_kinds = factory.LazyFunction(lambda: ["diagnosis_certificate"])


class CriterionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Criterion

    criteria_set = factory.SubFactory(CriteriaSetFactory)
    position = factory.Sequence(lambda n: n + 1)
    code = factory.Sequence(lambda n: f"item-{n}")
    kind = CriterionKind.ATTESTATION
    group = ""
    text = "局部晚期或转移性"
    expression = ""


def lung_cancer_set(**kwargs) -> CriteriaSet:
    """A draft with a diagnosis condition, a gene condition and two alternative attestations."""
    criteria_set = CriteriaSetFactory(**kwargs)
    CriterionFactory(
        criteria_set=criteria_set,
        position=1,
        code="nsclc",
        kind=CriterionKind.CONDITION,
        text="非小细胞肺癌",
        expression='diagnoses.exists(d, d.startsWith("C34"))',
    )
    CriterionFactory(
        criteria_set=criteria_set,
        position=2,
        code="alk",
        kind=CriterionKind.CONDITION,
        text="ALK阳性",
        expression='genes["ALK"] == "positive"',
    )
    CriterionFactory(
        criteria_set=criteria_set, position=3, code="adjuvant", group="indication", text="术后辅助"
    )
    CriterionFactory(
        criteria_set=criteria_set, position=4, code="advanced", group="indication", text="晚期"
    )
    return criteria_set
