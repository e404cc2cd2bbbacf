"""Public query API (no authentication): designated institutions by region, kind and drug.

Mounted at /api/v1/public through ``registry.api.public_router``; never returns personal data.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from . import selectors
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


class PublicInstitutionDetail(PublicInstitutionOut):
    drugs: list[PublicDrugOut]

    @staticmethod
    def resolve_drugs(obj) -> list[PublicDrugOut]:
        return [
            PublicDrugOut(drug_id=e.drug_id, generic_name=e.drug.generic_name)
            for e in selectors.public_equipped_drugs(obj)
        ]


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
