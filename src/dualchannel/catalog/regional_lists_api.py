"""Regional drug lists API (/api/v1/catalog/regional-lists) [SD §1, CX art. 3, 4, 6]: the lists an
officer's region publishes on top of the national one, and their import with a dry run.

The file travels as CSV text in the JSON body (``content``), or its rows as a list of objects
(``rows``), checked alike; see ``regional_lists`` for columns.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from dualchannel.core.auth import api_auth
from dualchannel.core.errors import DomainError
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role

from . import selectors
from .models import RegionalList
from .regional_lists import INVALID, RegionalListReport, regional_list_import

router = Router(tags=["catalog"], auth=api_auth)


class RegionalListOut(Schema):
    id: int
    region: str
    region_name: str
    kind: str
    kind_label: str
    title: str
    document_no: str
    valid_from: date
    valid_to: date | None
    entries: int
    source_name: str
    imported_at: datetime


class RegionalEntryOut(Schema):
    row: int
    drug_id: int
    generic_name: str
    valid_from: date
    valid_to: date | None
    note: str


class RegionalListDetailOut(RegionalListOut):
    items: list[RegionalEntryOut]


class RegionalListImportIn(Schema):
    region: str = Field(..., description="发布区划代码（本机构所在统筹区或其下级）")
    kind: str = Field(..., description="separately_paid / dual_channel / chronic_disease")
    title: str
    document_no: str = ""
    valid_from: str = Field(..., description="执行日期 YYYY-MM-DD")
    valid_to: str | None = Field(None, description="截止日期 YYYY-MM-DD，留空为长期")
    filename: str = Field("", description="源文件名（.csv；rows 时可留空）")
    content: str | None = Field(
        None, description="CSV 文本（首行为表头：医保药品代码或通用名，生效日期…）"
    )
    rows: list[Any] | None = Field(
        None,
        description="或：条目列表，每条一个对象，键同 CSV 表头"
        "（drug_code/医保药品代码、generic_name/通用名、valid_from、valid_to、note）",
    )
    dry_run: bool = Field(True, description="仅校验并报告，不写入")


class RegionalImportOut(Schema):
    dry_run: bool
    region: str
    kind: str
    title: str
    valid_from: date
    valid_to: date | None
    rows: int
    entries: list[RegionalEntryOut]
    closes_list_id: int | None
    regional_list_id: int | None


def _list_out(listing: RegionalList) -> dict:
    return {
        "id": listing.pk,
        "region": listing.region_id,
        "region_name": listing.region.name,
        "kind": listing.kind,
        "kind_label": listing.get_kind_display(),
        "title": listing.title,
        "document_no": listing.document_no,
        "valid_from": listing.valid_from,
        "valid_to": listing.valid_to,
        "entries": getattr(listing, "entry_count", listing.row_count),
        "source_name": listing.source_name,
        "imported_at": listing.imported_at,
    }


def _entry_out(row: int, drug, valid_from, valid_to, note) -> dict:
    return {
        "row": row,
        "drug_id": drug.pk,
        "generic_name": drug.generic_name,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "note": note,
    }


def report_out(report: RegionalListReport) -> dict:
    return {
        "dry_run": report.dry_run,
        "region": report.region,
        "kind": report.kind,
        "title": report.title,
        "valid_from": report.valid_from,
        "valid_to": report.valid_to,
        "rows": report.rows,
        "entries": [
            _entry_out(e.row, e.drug, e.valid_from, e.valid_to, e.note) for e in report.entries
        ],
        "closes_list_id": report.closes.pk if report.closes else None,
        "regional_list_id": report.regional_list.pk if report.regional_list else None,
    }


@router.get(
    "/regional-lists",
    response=list[RegionalListOut],
    summary="地方药品目录（本区划及上级、下级发布的单独支付、双通道年度调整、慢特病用药目录）",
)
def regional_lists(request: HttpRequest):
    require_role(request.auth, Role.AGENCY_OFFICER)
    return [_list_out(listing) for listing in selectors.regional_lists_visible(request.auth)]


@router.get(
    "/regional-lists/{regional_list_id}",
    response=RegionalListDetailOut,
    summary="地方药品目录详情及条目",
)
def regional_list_detail(request: HttpRequest, regional_list_id: int):
    require_role(request.auth, Role.AGENCY_OFFICER)
    listing = selectors.regional_list_get(regional_list_id, request.auth)
    entries = listing.entries.select_related("drug").order_by("row")
    return {
        **_list_out(listing),
        "items": [_entry_out(e.row, e.drug, e.valid_from, e.valid_to, e.note) for e in entries],
    }


@router.post(
    "/regional-lists",
    response=RegionalImportOut,
    summary="导入地方药品目录（dry_run 仅校验；文件有任何错误则整体拒绝，不写入）",
)
def regional_list_create(request: HttpRequest, payload: RegionalListImportIn):
    if (payload.content is None) == (payload.rows is None):
        raise DomainError(
            INVALID,
            "请提供 CSV 文本（content）或条目列表（rows）之一",
            fields={"content": ["content 与 rows 须且只能提供一个"]},
        )
    report = regional_list_import(
        actor=request.auth,
        region_code=payload.region,
        kind=payload.kind,
        title=payload.title,
        document_no=payload.document_no,
        valid_from=payload.valid_from,
        valid_to=payload.valid_to,
        raw=(payload.content or "").encode("utf-8"),
        filename=payload.filename or ("list.csv" if payload.rows is None else "rows.json"),
        rows=payload.rows,
        dry_run=payload.dry_run,
    )
    return report_out(report)
