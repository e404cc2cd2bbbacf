"""The hospital insurance office's stay bill page [AH §2(5), CX art. 19]: the stay's bill entered
(one item a line: name, amount, 甲/乙/自费), the pharmacy's purchases billed to the stay, the
stay's settlements, and settling the bill (the deductible once per stay where the profile says
so). Done by the reviewer of the stay's hospital."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from dualchannel.core.masking import mask_name
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role
from dualchannel.integration.his import get_his_adapter
from dualchannel.registry.selectors import stay_get

from .models import Settlement, StayCharge
from .payable import BREAKDOWN_LABELS
from .services import hospital_stay

reviewer_required = role_required(Role.REVIEWER)


def parse_bill(text: str) -> list[dict[str, Any]]:
    """One item a line, ``名称,金额,类别`` (a Chinese comma too); blank lines skipped. What is
    wrong with a line is the service's to say (``clean_bill``)."""
    rows = []
    for raw in (text or "").splitlines():
        line = raw.replace("，", ",").strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        parts += [""] * (3 - len(parts))
        rows.append({"name": parts[0], "amount": parts[1], "category": parts[2]})
    return rows


def bill_from_his(stay) -> str:
    """The stay's bill from the hospital's own system (HIS), one ``名称,金额,类别`` a line, to
    check and settle; "" when the hospital is not connected or the HIS does not know the stay."""
    his = get_his_adapter(stay.hospital)
    patient = his.find_patient(stay.person.id_number)
    if patient is None:
        return ""
    items = his.inpatient_bill(patient, stay.admission_no)
    return "\n".join(f"{i.name},{i.amount:.2f},{i.category}" for i in items)


@require_http_methods(["GET", "POST"])
@reviewer_required
def hospital_stay_bill(request: HttpRequest, stay_id: int) -> HttpResponse:
    stay = stay_get(request.user, stay_id)
    if request.method == "POST":
        settlement = hospital_stay.stay_bill_settle(
            actor=request.user,
            stay_id=stay.pk,
            lines=parse_bill(request.POST.get("lines", "")),
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
        messages.success(
            request,
            f"住院费用已结算：{settlement.settlement_no}，统筹基金支付{settlement.fund}元，"
            f"个人支付{settlement.personal}元",
        )
        return redirect("settlement-hospital-stay-bill", stay_id=stay.pk)
    settlements = Settlement.objects.filter(stay=stay).select_related("institution")
    his_bill = ""
    if request.GET.get("from_his") == "1":
        his_bill = bill_from_his(stay)
        if not his_bill:
            messages.warning(request, "本院信息系统（HIS）中没有该住院号的费用明细，请手工录入")
    context = {
        "stay": stay,
        "person_name": mask_name(stay.person.name),
        "charges": StayCharge.objects.filter(stay=stay).select_related("pharmacy"),
        "settlements": [
            {
                "settlement": s,
                "rows": [(label, getattr(s, name)) for name, label in BREAKDOWN_LABELS],
            }
            for s in settlements.order_by("-settled_at")
        ],
        "idempotency_key": uuid.uuid4().hex,
        "his_bill": his_bill,
    }
    return TemplateResponse(request, "settlement/hospital_stay_bill.html", context)
