"""Catalogue API (/api/v1/catalog): public search and detail; officer editing endpoints.

Public answers never carry the amount of a confidential payment standard (备注1). Criteria sets
are national or regional: the drug detail shows the national baseline and the set in force for a
region (``?region=``, or the calling officer's agency region); officers write only their own
region's sets (see ``services``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from dualchannel.core.auth import BearerToken, api_auth
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.registry.models import Region

from . import selectors, services
from .categories import category_name
from .criteria import evaluate_criteria
from .models import CriteriaSet, Criterion, Drug, MaterialKind, Restriction

router = Router(tags=["catalog"])


# --- schemas ---


class DrugSummaryOut(Schema):
    id: int
    generic_name: str
    pinyin_initials: str
    dosage_form: str
    category_code: str
    category_name: str
    section: str
    list_no: int
    drug_class: str
    is_negotiated: bool
    is_dual_channel: bool
    is_separately_paid: bool
    is_anti_cancer: bool
    is_injectable: bool
    needs_cold_chain: bool
    special_control: str
    agreement_start: date | None
    agreement_end: date | None


class DrugPageOut(Schema):
    count: int
    page: int
    page_size: int
    items: list[DrugSummaryOut]


class PaymentStandardOut(Schema):
    id: int
    specification: str
    unit: str
    amount: Decimal | None = Field(description="保密支付标准对公众为 null")
    amount_label: str
    is_confidential: bool
    tiered_note: dict | None
    note: str
    source_text: str
    effective_from: date
    effective_to: date | None
    edition_code: str


class RestrictionOut(Schema):
    id: int
    text: str
    effective_from: date
    effective_to: date | None
    edition_code: str


class CriterionOut(Schema):
    id: int
    position: int
    code: str
    kind: str
    group: str
    text: str
    expression: str


class MaterialKindOut(Schema):
    code: str
    label: str


class CatalogRegionOut(Schema):
    code: str
    name: str
    label: str = Field(description="如「武汉市 适用」")


class CriteriaSetOut(Schema):
    id: int
    drug_id: int
    region: str | None = Field(description="适用区划代码；null 为全国基线")
    region_name: str | None
    scope_label: str = Field(description="「全国基线」或区划名称，如「武汉市」")
    version: int
    status: str
    origin: str
    evaluation_cycle_days: int | None
    required_material_kinds: list[MaterialKindOut]
    note: str
    published_at: datetime | None
    restriction_id: int | None
    items: list[CriterionOut]


class DrugDetailOut(DrugSummaryOut):
    pinyin: str
    brand_names: str
    national_code: str
    agreement_text: str
    pdf_page: int | None
    edition_code: str
    payment_standards: list[PaymentStandardOut]
    payment_standard_history: list[PaymentStandardOut]
    restriction: RestrictionOut | None
    restriction_history: list[RestrictionOut]
    criteria: CriteriaSetOut | None = Field(description="全国基线（已发布）")
    criteria_region: CatalogRegionOut | None = Field(
        description="查询的区划（参数 region），或调用者（经办人员）所属经办机构的区划"
    )
    criteria_in_force: CriteriaSetOut | None = Field(
        description="该区划适用的认定条件：本级或最近上级区划已发布的版本，否则为全国基线"
    )


class CategoryOut(Schema):
    code: str
    name: str
    level: int
    parent: str
    drug_count: int


class DrugDetailQuery(Schema):
    region: str | None = Field(None, description="区划代码：显示该区划适用的认定条件")


class DraftQuery(Schema):
    region: str | None = Field(None, description="区划代码；默认为经办人员所属经办机构的区划")


class DrugSearchQuery(Schema):
    q: str = Field("", description="通用名、拼音首字母（如 lltn）、全拼或分类")
    category: str = Field("", description="分类代码前缀（XL01）或中文分类名（抗肿瘤药）")
    dual_channel: bool | None = None
    separately_paid: bool | None = None
    anti_cancer: bool | None = None
    injectable: bool | None = None
    cold_chain: bool | None = None
    special_control: str | None = None
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=100)


class FlagsIn(Schema):
    is_dual_channel: bool | None = None
    is_separately_paid: bool | None = None
    is_anti_cancer: bool | None = None
    is_injectable: bool | None = None
    needs_cold_chain: bool | None = None
    special_control: str | None = None


class NationalCodeIn(Schema):
    code: str


class AmountIn(Schema):
    amount: Decimal


class CriteriaSetUpdateIn(Schema):
    evaluation_cycle_days: int | None = None
    required_material_kinds: list[str] | None = None
    note: str | None = None


class CriterionIn(Schema):
    code: str
    kind: str
    text: str
    group: str = ""
    expression: str = ""


class CriterionUpdateIn(Schema):
    kind: str | None = None
    text: str | None = None
    group: str | None = None
    expression: str | None = None


class ReorderIn(Schema):
    codes: list[str]


class CatalogReasonIn(Schema):
    reason: str = ""


class EvaluateIn(Schema):
    context: dict[str, Any] = Field(default_factory=dict)
    answers: dict[str, bool | None] = Field(default_factory=dict)


class CriterionResultOut(Schema):
    code: str
    kind: str
    group: str
    text: str
    outcome: str
    reason: str


class EvaluationOut(Schema):
    verdict: str
    verdict_label: str
    items: list[CriterionResultOut]


# --- shaping ---

SUMMARY_FIELDS = [name for name in DrugSummaryOut.model_fields if name != "category_name"]


def _summary(drug: Drug) -> dict[str, Any]:
    data = {name: getattr(drug, name) for name in SUMMARY_FIELDS}
    data["category_name"] = category_name(drug.category_code)
    return data


def _restriction(restriction: Restriction | None) -> dict[str, Any] | None:
    if restriction is None:
        return None
    return {
        "id": restriction.id,
        "text": restriction.text,
        "effective_from": restriction.effective_from,
        "effective_to": restriction.effective_to,
        "edition_code": restriction.edition.code,
    }


def _criterion(item: Criterion) -> dict[str, Any]:
    return {
        name: getattr(item, name)
        for name in ("id", "position", "code", "kind", "group", "text", "expression")
    }


def criteria_payload(criteria_set: CriteriaSet | None) -> dict[str, Any] | None:
    if criteria_set is None:
        return None
    labels = dict(MaterialKind.choices)
    return {
        "id": criteria_set.id,
        "drug_id": criteria_set.drug_id,
        "region": criteria_set.region_id,
        "region_name": criteria_set.region.name if criteria_set.region_id else None,
        "scope_label": criteria_set.scope_name,
        "version": criteria_set.version,
        "status": criteria_set.status,
        "origin": criteria_set.origin,
        "evaluation_cycle_days": criteria_set.evaluation_cycle_days,
        "required_material_kinds": [
            {"code": kind, "label": labels.get(kind, kind)}
            for kind in criteria_set.required_material_kinds
        ],
        "note": criteria_set.note,
        "published_at": criteria_set.published_at,
        "restriction_id": criteria_set.restriction_id,
        "items": [_criterion(item) for item in criteria_set.items.order_by("position")],
    }


def _region(region: Region | None) -> dict[str, Any] | None:
    if region is None:
        return None
    return {"code": region.code, "name": region.name, "label": selectors.in_force_label(region)}


def _detail(drug: Drug, actor, region: Region | None = None) -> dict[str, Any]:
    standards = [
        selectors.standard_view(s, actor).__dict__
        for s in selectors.current_payment_standards(drug)
    ]
    history = [
        selectors.standard_view(s, actor).__dict__ for s in selectors.payment_standard_history(drug)
    ]
    return {
        **_summary(drug),
        "pinyin": drug.pinyin,
        "brand_names": drug.brand_names,
        "national_code": drug.national_code,
        "agreement_text": drug.agreement_text,
        "pdf_page": drug.pdf_page,
        "edition_code": drug.edition.code,
        "payment_standards": standards,
        "payment_standard_history": history,
        "restriction": _restriction(selectors.current_restriction(drug)),
        "restriction_history": [_restriction(r) for r in selectors.restriction_history(drug)],
        "criteria": criteria_payload(selectors.published_criteria(drug)),
        "criteria_region": _region(region),
        "criteria_in_force": (
            criteria_payload(selectors.published_criteria(drug, region)) if region else None
        ),
    }


def _caller(request: HttpRequest):
    """The user behind a bearer token or page session on a public endpoint, if any."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return BearerToken().authenticate(request, header[7:].strip())
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated and user.is_active else None


# --- public ---


@router.get("/drugs", response=DrugPageOut, auth=None, summary="检索目录药品")
def drug_list(request: HttpRequest, filters: Query[DrugSearchQuery]):
    drugs = selectors.drug_search(
        q=filters.q,
        category=filters.category,
        flags={
            "is_dual_channel": filters.dual_channel,
            "is_separately_paid": filters.separately_paid,
            "is_anti_cancer": filters.anti_cancer,
            "is_injectable": filters.injectable,
            "needs_cold_chain": filters.cold_chain,
        },
        special_control=filters.special_control,
    )
    count = drugs.count()
    start = (filters.page - 1) * filters.page_size
    page = drugs[start : start + filters.page_size]
    return {
        "count": count,
        "page": filters.page,
        "page_size": filters.page_size,
        "items": [_summary(drug) for drug in page],
    }


@router.get("/drugs/{drug_id}", response=DrugDetailOut, auth=None, summary="药品详情")
def drug_detail(request: HttpRequest, drug_id: int, query: Query[DrugDetailQuery]):
    # Public: confidential amounts are never shown here, whoever asks. The criteria in force are
    # those of the region asked for, else of a calling officer's agency region.
    drug = selectors.drug_get(drug_id)
    if query.region:
        region = selectors.region_get(query.region)
    else:
        region = selectors.officer_region(_caller(request))
    return _detail(drug, None, region)


@router.get("/categories", response=list[CategoryOut], auth=None, summary="药品分类")
def categories(request: HttpRequest):
    return selectors.category_list()


# --- authenticated ---


@router.post(
    "/criteria-sets/{criteria_set_id}/evaluate",
    response=EvaluationOut,
    auth=api_auth,
    summary="按患者数据与医师确认评估认定条件",
)
def criteria_evaluate(request: HttpRequest, criteria_set_id: int, payload: EvaluateIn):
    criteria_set = selectors.criteria_set_get(criteria_set_id, request.auth)
    result = evaluate_criteria(criteria_set, payload.context, payload.answers)
    return {**result.as_dict(), "verdict_label": result.verdict_label}


@router.get(
    "/criteria-sets/{criteria_set_id}",
    response=CriteriaSetOut,
    auth=api_auth,
    summary="认定条件（经办人员可见草稿）",
)
def criteria_set_detail(request: HttpRequest, criteria_set_id: int):
    return criteria_payload(selectors.criteria_set_get(criteria_set_id, request.auth))


# --- agency officers ---


@router.get(
    "/drugs/{drug_id}/payment-standards",
    response=list[PaymentStandardOut],
    auth=api_auth,
    summary="支付标准历史（含保密金额，仅经办人员）",
)
def officer_payment_standards(request: HttpRequest, drug_id: int):
    require_role(request.auth, Role.AGENCY_OFFICER)
    drug = selectors.drug_get(drug_id)
    return [
        selectors.standard_view(s, request.auth).__dict__
        for s in selectors.payment_standard_history(drug)
    ]


@router.get(
    "/drugs/{drug_id}/criteria-sets",
    response=list[CriteriaSetOut],
    auth=api_auth,
    summary="药品的认定条件版本：全国基线与本地区（仅经办人员）",
)
def officer_criteria_sets(request: HttpRequest, drug_id: int):
    require_role(request.auth, Role.AGENCY_OFFICER)
    drug = selectors.drug_get(drug_id)
    return [criteria_payload(s) for s in selectors.criteria_sets_for(drug, request.auth)]


@router.patch(
    "/drugs/{drug_id}/flags", response=DrugSummaryOut, auth=api_auth, summary="修改药品标志"
)
def drug_flags_update(request: HttpRequest, drug_id: int, payload: FlagsIn):
    drug = services.drug_update_flags(
        actor=request.auth, drug_id=drug_id, **payload.model_dump(exclude_none=True)
    )
    return _summary(drug)


@router.put(
    "/drugs/{drug_id}/national-code",
    response=DrugSummaryOut,
    auth=api_auth,
    summary="录入药品的医保药品代码",
)
def drug_national_code_set(request: HttpRequest, drug_id: int, payload: NationalCodeIn):
    drug = services.drug_set_national_code(actor=request.auth, drug_id=drug_id, code=payload.code)
    return _summary(drug)


@router.put(
    "/payment-standards/{standard_id}/amount",
    response=PaymentStandardOut,
    auth=api_auth,
    summary="录入保密支付标准金额",
)
def payment_standard_amount(request: HttpRequest, standard_id: int, payload: AmountIn):
    standard = services.payment_standard_set_amount(
        actor=request.auth, payment_standard_id=standard_id, amount=payload.amount
    )
    return selectors.standard_view(standard, request.auth).__dict__


@router.post(
    "/drugs/{drug_id}/criteria-sets",
    response={201: CriteriaSetOut},
    auth=api_auth,
    summary="新建本地区认定条件草稿（复制该地区适用的版本）",
)
def criteria_draft_create(request: HttpRequest, drug_id: int, query: Query[DraftQuery]):
    draft = services.criteria_set_create_draft(
        actor=request.auth, drug_id=drug_id, region=query.region or None
    )
    return Status(201, criteria_payload(draft))


@router.patch(
    "/criteria-sets/{criteria_set_id}", response=CriteriaSetOut, auth=api_auth, summary="修改草稿"
)
def criteria_set_update(request: HttpRequest, criteria_set_id: int, payload: CriteriaSetUpdateIn):
    changes = payload.model_dump(exclude_unset=True)
    criteria_set = services.criteria_set_update(
        actor=request.auth, criteria_set_id=criteria_set_id, **changes
    )
    return criteria_payload(criteria_set)


@router.post(
    "/criteria-sets/{criteria_set_id}/items",
    response={201: CriterionOut},
    auth=api_auth,
    summary="新增条目",
)
def criterion_add(request: HttpRequest, criteria_set_id: int, payload: CriterionIn):
    item = services.criterion_add(
        actor=request.auth, criteria_set_id=criteria_set_id, **payload.model_dump()
    )
    return Status(201, _criterion(item))


@router.patch(
    "/criteria-items/{criterion_id}", response=CriterionOut, auth=api_auth, summary="修改条目"
)
def criterion_update(request: HttpRequest, criterion_id: int, payload: CriterionUpdateIn):
    item = services.criterion_update(
        actor=request.auth, criterion_id=criterion_id, **payload.model_dump(exclude_unset=True)
    )
    return _criterion(item)


@router.delete(
    "/criteria-items/{criterion_id}", response={204: None}, auth=api_auth, summary="删除条目"
)
def criterion_remove(request: HttpRequest, criterion_id: int):
    services.criterion_remove(actor=request.auth, criterion_id=criterion_id)
    return Status(204, None)


@router.post(
    "/criteria-sets/{criteria_set_id}/reorder",
    response=CriteriaSetOut,
    auth=api_auth,
    summary="调整条目顺序",
)
def criteria_reorder(request: HttpRequest, criteria_set_id: int, payload: ReorderIn):
    criteria_set = services.criteria_set_reorder(
        actor=request.auth, criteria_set_id=criteria_set_id, codes=payload.codes
    )
    return criteria_payload(criteria_set)


@router.post(
    "/criteria-sets/{criteria_set_id}/publish",
    response=CriteriaSetOut,
    auth=api_auth,
    summary="发布认定条件（停用原发布版本）",
)
def criteria_publish(request: HttpRequest, criteria_set_id: int, payload: CatalogReasonIn):
    criteria_set = services.criteria_set_publish(
        actor=request.auth, criteria_set_id=criteria_set_id, reason=payload.reason
    )
    return criteria_payload(criteria_set)
