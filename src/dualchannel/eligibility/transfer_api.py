"""JSON API of the transfer of an eligibility with the person's insurance relation (mounted at
/api/v1/eligibility) [HB art. 50]. Agency officers of the person's region; the services check
role, scope, the target region's profile and the province."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from dualchannel.core.auth import api_auth
from dualchannel.registry.selectors import insured_person_find

from .services import transfer

router = Router(tags=["eligibility"], auth=api_auth)


class TransferIn(Schema):
    person_id_number: str = Field(..., max_length=18, description="参保人身份证号")
    to_region: str = Field(..., max_length=6, description="转入地区划代码（本省）")
    effective_on: date | None = Field(None, description="转移生效日期（默认今天）")
    reason: str = Field("", max_length=200)


class TransferOut(Schema):
    from_region: str
    to_region: str
    effective_on: date
    eligibility_ids: list[int] = Field(..., description="随参保关系转移的用药资格")


@router.post(
    "/transfers",
    response={201: TransferOut},
    summary=(
        "省内参保关系转移接续：用药资格随之转移，自转移日起按转入地规定"
        "（鄂医保发〔2023〕35号 第五十条）"
    ),
)
def transfer_create(request: HttpRequest, payload: TransferIn):
    person = insured_person_find(request.auth, id_number=payload.person_id_number)
    done = transfer.eligibility_transfer_with_person(
        actor=request.auth,
        person_id=person.pk,
        to_region=payload.to_region,
        effective_on=payload.effective_on,
        reason=payload.reason,
    )
    return Status(
        201,
        {
            "from_region": done.change.from_region_id,
            "to_region": done.change.to_region_id,
            "effective_on": done.change.effective_on,
            "eligibility_ids": [e.pk for e in done.eligibilities],
        },
    )
