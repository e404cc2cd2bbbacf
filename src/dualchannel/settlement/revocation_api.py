"""JSON API of revocation for fraud (mounted at /api/v1/settlement beside ``api.py``)
[HB art. 12; recovery HB art. 21–22]: an agency officer revokes an eligibility of the region
with the kind of fraud, the reason, the evidence (note and optional file) and the date the
fraud began; the answer lists the recovery orders raised. Services check roles and scope."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Field, File, Form, Router, Schema, UploadedFile
from ninja.responses import Status

from dualchannel.core.auth import api_auth
from dualchannel.eligibility.services import EvidenceFile
from dualchannel.eligibility.services.revocation import MAX_EVIDENCE_BYTES

from . import selectors
from .recovery_api import RecoveryOut, recovery_payload
from .services import revocation

router = Router(tags=["settlement"], auth=api_auth)


class RevocationOut(Schema):
    eligibility_id: int
    status: str
    kind: str = Field(..., description="欺诈情形")
    fraud_from: date = Field(..., description="欺诈行为起始日期（追回自此日起的结算）")
    settlements: int = Field(..., description="列入追回的结算笔数")
    left_out: dict[str, int] = Field(..., description="未列入追回的结算笔数及原因")
    orders: list[RecoveryOut]


def evidence_file(file: UploadedFile | None) -> EvidenceFile | None:
    if file is None:
        return None
    return EvidenceFile(file.name or "", file.read(MAX_EVIDENCE_BYTES + 1), file.content_type or "")


@router.post(
    "/eligibilities/{int:eligibility_id}/revoke",
    response={201: RevocationOut},
    summary="因欺诈骗保取消用药资格并追回已支付的基金（鄂医保发〔2023〕35号 第十二条）",
)
def eligibility_revoke(
    request: HttpRequest,
    eligibility_id: int,
    kind: Form[str],
    reason: Form[str],
    evidence: Form[str] = "",
    fraud_from: Form[str] = "",
    file: UploadedFile | None = File(None),  # noqa: B008
):
    result = revocation.eligibility_revoke_for_fraud(
        actor=request.auth,
        eligibility_id=eligibility_id,
        kind=kind,
        reason=reason,
        evidence=evidence,
        fraud_from=fraud_from or None,
        file=evidence_file(file),
    )
    visible = selectors.visible_recoveries(request.auth)
    eligibility = result.eligibility
    return Status(
        201,
        {
            "eligibility_id": eligibility.pk,
            "status": eligibility.status,
            "kind": eligibility.revocation_kind,
            "fraud_from": eligibility.fraud_from,
            "settlements": result.settlements,
            "left_out": result.left_out,
            "orders": [
                recovery_payload(o) for o in visible.filter(pk__in=[o.pk for o in result.orders])
            ],
        },
    )
