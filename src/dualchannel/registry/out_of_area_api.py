"""JSON API of cross-province filings (异地就医备案) [HB art. 41, CX art. 17], mounted at
/api/v1/registry beside ``api.py``: an officer of the person's enrolment region, or the
insurance office of a hospital in that pooling region, records one and lists theirs. Within
the province no filing is needed [HB art. 40]. Names and ID numbers are masked."""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from dualchannel.core.auth import api_auth
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role

from . import selectors, services
from .models import OutOfAreaFiling

router = Router(tags=["registry"], auth=api_auth)
LIST_LIMIT = 200


class OutOfAreaFilingIn(Schema):
    person_id_number: str = Field(..., max_length=18, description="参保人身份证号")
    treating_region: str = Field(
        ..., max_length=6, description="就医地区划代码（外省的省、市或县）"
    )
    kind: str = Field(..., description="备案类型：long_term / referral / temporary")
    valid_from: date = Field(..., description="备案开始日期")
    valid_to: date = Field(..., description="备案截止日期")


class OutOfAreaFilingOut(Schema):
    id: int
    filing_no: str
    person_name: str = Field(..., description="姓名（脱敏）")
    person_id_number: str = Field(..., description="身份证号（脱敏）")
    enrolment_region: str
    treating_region: str
    treating_region_name: str
    kind: str
    kind_label: str
    valid_from: date
    valid_to: date
    recorded_at: datetime
    cancelled_on: date | None = Field(None, description="撤销生效日期（自该日起不再直接结算）")
    cancel_reason: str = Field("", description="撤销原因")


class OutOfAreaFilingCancelIn(Schema):
    reason: str = Field(..., max_length=200, description="撤销原因（必填）")
    cancelled_on: date | None = Field(None, description="撤销生效日期，缺省为今天")


def filing_out(filing: OutOfAreaFiling) -> dict:
    person = filing.person
    return {
        "id": filing.pk,
        "filing_no": filing.filing_no,
        "person_name": mask_name(person.name),
        "person_id_number": mask_id_number(person.id_number),
        "enrolment_region": person.enrolment_region_id,
        "treating_region": filing.treating_region_id,
        "treating_region_name": filing.treating_region.name,
        "kind": filing.kind,
        "kind_label": filing.get_kind_display(),
        "valid_from": filing.valid_from,
        "valid_to": filing.valid_to,
        "recorded_at": filing.recorded_at,
        "cancelled_on": filing.cancelled_on,
        "cancel_reason": filing.cancel_reason,
    }


@router.get(
    "/out-of-area-filings",
    response=list[OutOfAreaFilingOut],
    summary="异地就医备案列表（本经办机构辖区或本院办理）",
)
def out_of_area_filings(request: HttpRequest):
    require_role(request.auth, Role.AGENCY_OFFICER, Role.REVIEWER)
    rows = selectors.visible_filings(request.auth).order_by("-recorded_at", "-pk")[:LIST_LIMIT]
    return [filing_out(f) for f in rows]


@router.post(
    "/out-of-area-filings",
    response={201: OutOfAreaFilingOut},
    summary="办理跨省异地就医备案（省内异地无需备案）",
)
def out_of_area_filing_create(request: HttpRequest, payload: OutOfAreaFilingIn):
    filing = services.out_of_area_filing_create(actor=request.auth, **payload.dict())
    return Status(201, filing_out(filing))


@router.post(
    "/out-of-area-filings/{int:out_of_area_filing_id}/cancel",
    response=OutOfAreaFilingOut,
    summary="撤销跨省异地就医备案：自撤销生效日起不再直接结算",
)
def out_of_area_filing_cancel(
    request: HttpRequest, out_of_area_filing_id: int, payload: OutOfAreaFilingCancelIn
):
    """HB art. 41: after the cancellation the counter refuses direct settlement there."""
    filing = services.out_of_area_filing_cancel(
        actor=request.auth, filing_id=out_of_area_filing_id, **payload.dict()
    )
    return filing_out(filing)
