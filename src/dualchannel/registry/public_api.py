"""Public query API (no authentication): designated institutions by region, kind and drug.

Mounted at /api/v1/public through ``registry.api.public_router``; never returns personal data.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from dualchannel.core.errors import NotFound

from . import public_cache, selectors
from .models import Region

public_router = Router(tags=["public"], auth=None)


# Public ---------------------------------------------------------------------------------------


class PublicRegionOut(Schema):
    code: str
    name: str
    level: str
    parent: str | None


class PublicInstitutionOut(Schema):
    id: int
    kind: str
    kind_label: str
    name: str
    region: str
    region_path: str
    address: str
    phone: str
    hospital_level: int | None
    realtime_settlement: bool
    e_prescription_connected: bool
    has_cold_chain: bool
    has_pathology: bool
    has_gene_testing: bool
    # With a drug in the query: whether a pharmacy has it in stock now (None for hospitals and
    # queries without a drug). Availability only: quantities are the pharmacy's business.
    in_stock: bool | None = None

    @staticmethod
    def resolve_in_stock(obj) -> bool | None:
        if obj.kind != "pharmacy":
            return None
        return getattr(obj, "in_stock", None)

    @staticmethod
    def resolve_kind_label(obj) -> str:
        return obj.get_kind_display()

    @staticmethod
    def resolve_region(obj) -> str:
        return obj.region_id

    @staticmethod
    def resolve_region_path(obj) -> str:
        return region_path(obj.region)


class PublicDrugOut(Schema):
    drug_id: int
    generic_name: str


class PublicPhysicianOut(Schema):
    name: str
    department: str
    title: str


class PublicInstitutionDetail(PublicInstitutionOut):
    drugs: list[PublicDrugOut]
    # A hospital's responsible physicians, as the agency publishes them [HB art. 16, CX art. 20].
    physicians: list[PublicPhysicianOut]

    @staticmethod
    def resolve_physicians(obj) -> list[PublicPhysicianOut]:
        return [
            PublicPhysicianOut(name=p.name, department=p.department, title=p.get_title_display())
            for p in selectors.public_physicians([obj.pk]).get(obj.pk, [])
        ]

    @staticmethod
    def resolve_drugs(obj) -> list[PublicDrugOut]:
        return [
            PublicDrugOut(drug_id=e.drug_id, generic_name=e.drug.generic_name)
            for e in selectors.public_equipped_drugs(obj)
        ]


class PublicConditionOut(Schema):
    text: str
    basis: str


class PublicDesignationTermsOut(Schema):
    profile: str
    source_document: str
    conditions: list[PublicConditionOut]
    steps: list[str]
    time_limit_working_days: int | None
    time_limit: str
    time_limit_basis: str
    complaint_reply_working_days: int
    complaint_basis: str


def region_path(region: Region) -> str:
    names = []
    current: Region | None = region
    while current is not None:
        if current.name not in ("市辖区", "省直辖县级行政区划", "自治区直辖县级行政区划"):
            names.append(current.name)
        current = current.parent
    return "".join(reversed(names))


@public_router.get("/regions", response=list[PublicRegionOut], summary="行政区划（省→市→县）")
def public_regions(request: HttpRequest, parent: str | None = None):
    return [
        PublicRegionOut(code=r.code, name=r.name, level=r.level, parent=r.parent_id)
        for r in selectors.public_regions_cached(parent)
    ]


@public_router.get(
    "/institutions",
    response=list[PublicInstitutionOut],
    summary="查询双通道定点药店和医疗机构（按区划、类型、药品）",
)
@paginate(LimitOffsetPagination)
def public_institutions(
    request: HttpRequest,
    region: str | None = None,
    kind: str | None = None,
    drug: str | None = None,
):
    return selectors.public_institutions_cached(region=region, kind=kind, drug=drug)


@public_router.get(
    "/institutions/{institution_id}",
    response=PublicInstitutionDetail,
    summary="双通道定点机构详情及配备药品",
)
def public_institution_detail(request: HttpRequest, institution_id: int):
    return PublicInstitutionDetail.from_orm(selectors.public_institution_get(institution_id))


@public_router.get(
    "/regions/{region_code}/designation",
    response=PublicDesignationTermsOut,
    summary="双通道定点申请条件、办理流程和时限（鄂医保发〔2023〕35号 第十六条）",
)
def public_designation_terms(request: HttpRequest, region_code: str):
    terms = public_cache.cached(
        ("designation-terms", region_code),
        lambda: selectors.public_designation_terms(region_code),
        rows=lambda _: 1,
    )
    if terms is None:
        raise NotFound("registry.profile_not_found", "该地区未配置双通道政策")
    return {
        **terms,
        "conditions": [{"text": t, "basis": b} for t, b in terms["conditions"]],
    }
