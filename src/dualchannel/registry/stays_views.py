"""The hospital insurance office's inpatient page [AH §2(5) and annex, CX art. 19]: the stays
it registered (住院号), registering one, and the inpatient 外购备案表 waiting for its review
(医院医保办审核意见: approve or refuse with the opinion). Done by the reviewer."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import field_error
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import error_codes as codes
from . import selectors, services
from .models import FilingReviewStatus
from .profiles import profile_of

reviewer_required = role_required(Role.REVIEWER)


@require_GET
@reviewer_required
def hospital_stays(request: HttpRequest) -> HttpResponse:
    stays = [
        {
            "stay": stay,
            "person_name": mask_name(stay.person.name),
            "person_id_number": mask_id_number(stay.person.id_number),
        }
        for stay in selectors.stays_for(request.user)[:200]
    ]
    reviews = [
        {"review": review, "person_name": mask_name(review.stay.person.name)}
        for review in selectors.filing_reviews_for(request.user)[:200]
    ]
    context = {
        "stays": stays,
        "reviews": reviews,
        "submitted": FilingReviewStatus.SUBMITTED,
        "profile": profile_of(request.user.institution) if request.user.institution else None,
    }
    return TemplateResponse(request, "registry/hospital_stays.html", context)


def _day(value: str) -> date:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise field_error(
            "admitted_on", codes.INVALID_FIELD, "入院日期格式应为YYYY-MM-DD"
        ) from None


@require_POST
@reviewer_required
def hospital_stay_register(request: HttpRequest) -> HttpResponse:
    stay = services.stay_register(
        actor=request.user,
        id_number=request.POST.get("id_number", ""),
        admission_no=request.POST.get("admission_no", ""),
        admitted_on=_day(request.POST.get("admitted_on", "")),
        diagnosis_code=request.POST.get("diagnosis_code", ""),
        diagnosis_name=request.POST.get("diagnosis_name", ""),
    )
    messages.success(request, f"已登记住院：住院号{stay.admission_no}")
    return redirect("registry-hospital-stays")


@require_POST
@reviewer_required
def hospital_filing_review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    decision = request.POST.get("decision", "")
    if decision not in ("approve", "refuse"):
        raise field_error("decision", codes.INVALID_FIELD, "请选择同意或不同意")
    review = services.filing_review_decide(
        actor=request.user,
        review_id=pk,
        approve=decision == "approve",
        opinion=request.POST.get("opinion", ""),
    )
    messages.success(request, f"住院外购备案表已审核：{review.get_status_display()}")
    return redirect("registry-hospital-stays")
