"""The hospital's physicians page: its 医保医师 and responsible physicians, the title of each,
registering one, and the annual assessment of a responsible physician [HB art. 14, 20, 42;
CX art. 20]. Done by the hospital insurance office (the reviewer)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.permissions import role_required
from dualchannel.core.roles import Role

from . import error_codes as codes
from . import selectors, services
from .designations import physician_standing
from .models import (
    DesignationStatus,
    Institution,
    InstitutionKind,
    PhysicianAssessment,
    TitleRank,
)
from .profiles import profile_of

reviewer_required = role_required(Role.REVIEWER)


def _own_hospital(request: HttpRequest) -> Institution:
    hospital_id = selectors.staff_institution_id(request.user, roles=(Role.REVIEWER,))
    if hospital_id is None:
        raise NotFound(codes.NOT_A_HOSPITAL, "当前账号不属于医疗机构")
    return selectors.institution_get(request.user, hospital_id)


def _rows(request: HttpRequest, hospital: Institution) -> list[dict]:
    profile = profile_of(hospital)
    rows = []
    for physician in selectors.physician_list(request.user, hospital_id=hospital.pk):
        standing = physician_standing(physician, profile)
        rows.append(
            {
                "physician": physician,
                "designation_label": DesignationStatus(physician.designation_status).label
                if physician.designation_status
                else "",
                "standing": standing,
                "assessments": list(
                    physician.assessments.select_related("assessed_by").order_by("-year")
                ),
            }
        )
    return rows


@require_GET
@reviewer_required
def hospital_physicians(request: HttpRequest) -> HttpResponse:
    hospital = _own_hospital(request)
    profile = profile_of(hospital)
    context = {
        "hospital": hospital,
        "profile": profile,
        "rows": _rows(request, hospital),
        "titles": TitleRank.choices,
        "results": PhysicianAssessment.Result.choices,
        "this_year": timezone.localdate().year,
    }
    return TemplateResponse(request, "registry/hospital_physicians.html", context)


@require_POST
@reviewer_required
def hospital_physician_create(request: HttpRequest) -> HttpResponse:
    raw_id = request.POST.get("hospital_id", "").strip()
    hospital = selectors.institution_get(request.user, int(raw_id) if raw_id.isdigit() else 0)
    if hospital.pk != _own_hospital(request).pk:
        raise NotFound(codes.NOT_A_HOSPITAL, "医疗机构不存在")
    responsible = request.POST.get("responsible") == "1"
    write = services.physician_file if responsible else services.physician_register
    physician = write(
        actor=request.user,
        hospital=hospital,
        name=request.POST.get("name", ""),
        staff_code=request.POST.get("staff_code", ""),
        department=request.POST.get("department", ""),
        title=_int_or_text(request.POST.get("title", "")),
        practising_certificate_no=request.POST.get("practising_certificate_no", ""),
    )
    done = "备案责任医师（待医保经办机构纳入）" if responsible else "登记医保医师"
    messages.success(request, f"已{done}：{physician.name}")
    return redirect("registry-hospital-physicians")


@require_POST
@reviewer_required
def hospital_physician_assess(request: HttpRequest, pk: int) -> HttpResponse:
    hospital = _own_hospital(request)
    physician = selectors.physician_get(request.user, pk)
    if physician.hospital_id != hospital.pk:
        raise NotFound(codes.NOT_A_HOSPITAL, "医师不存在")
    raw_year = request.POST.get("year", "").strip()
    if not raw_year.isdigit():
        raise DomainError(codes.INVALID_YEAR, "请填写考核年度", fields={"year": ["须为年份"]})
    assessment = services.physician_assess(
        actor=request.user,
        physician=physician,
        year=int(raw_year),
        result=request.POST.get("result", ""),
        note=request.POST.get("note", ""),
    )
    messages.success(
        request,
        f"已登记{physician.name}{assessment.year}年度考核：{assessment.get_result_display()}",
    )
    return redirect("registry-hospital-physicians")


def _int_or_text(value: str) -> int | str:
    value = (value or "").strip()
    return int(value) if value.isdigit() else value


# The agency's side [CX art. 20, AH §2(2)]: the responsible physicians its hospitals filed,
# accepted (纳入) or refused; an officer may also file one for a hospital of the region.

officer_required = role_required(Role.AGENCY_OFFICER)
PHYSICIAN_DECISIONS = {
    "accept": DesignationStatus.ACTIVE,
    "reject": DesignationStatus.REJECTED,
}


def _agency_rows(request: HttpRequest) -> list[dict]:
    rows = []
    for physician in selectors.physician_list(request.user).select_related("hospital"):
        designation = physician.designations.order_by("-created_at", "-id").first()
        rows.append(
            {
                "physician": physician,
                "designation": designation,
                "waiting": designation is not None
                and designation.status == DesignationStatus.APPLIED,
            }
        )
    # the filed ones waiting for the agency first, oldest first
    return sorted(
        rows,
        key=lambda r: (
            not r["waiting"],
            r["designation"].applied_on if r["waiting"] else r["physician"].name,
        ),
    )


@require_GET
@officer_required
def agency_physicians(request: HttpRequest) -> HttpResponse:
    region = selectors.officer_region(request.user)
    hospitals = selectors.institution_list(request.user, kind=InstitutionKind.HOSPITAL)
    rows = _agency_rows(request)
    return TemplateResponse(
        request,
        "registry/agency_physicians.html",
        {
            "region": region,
            "rows": rows,
            "waiting": sum(1 for r in rows if r["waiting"]),
            "hospitals": list(hospitals[:200]),
            "titles": TitleRank.choices,
        },
    )


@require_POST
@officer_required
def agency_physician_file(request: HttpRequest) -> HttpResponse:
    raw_id = request.POST.get("hospital_id", "").strip()
    hospital = selectors.institution_get(request.user, int(raw_id) if raw_id.isdigit() else 0)
    physician = services.physician_file(
        actor=request.user,
        hospital=hospital,
        name=request.POST.get("name", ""),
        staff_code=request.POST.get("staff_code", ""),
        department=request.POST.get("department", ""),
        title=_int_or_text(request.POST.get("title", "")),
        practising_certificate_no=request.POST.get("practising_certificate_no", ""),
    )
    messages.success(request, f"已备案责任医师：{physician.name}（待纳入）")
    return _back_to_physicians(request)


@require_POST
@officer_required
def agency_physician_decide(request: HttpRequest, pk: int) -> HttpResponse:
    designation = selectors.designation_get(request.user, pk)
    if designation.physician_id is None:
        raise NotFound(codes.NOT_A_HOSPITAL, "责任医师备案不存在")
    target = PHYSICIAN_DECISIONS.get(request.POST.get("decision", ""))
    if target is None:
        raise DomainError("registry.decision_required", "请选择纳入或不予通过")
    reason = request.POST.get("reason", "").strip()
    if target == DesignationStatus.ACTIVE and not reason:
        reason = "经办机构审核纳入"
    services.designation_transition(
        actor=request.user, designation=designation, to_status=target, reason=reason
    )
    name = designation.physician.name
    done = "纳入双通道责任医师" if target == DesignationStatus.ACTIVE else "不予通过"
    messages.success(request, f"{name}：已{done}")
    return _back_to_physicians(request)


def _back_to_physicians(request: HttpRequest) -> HttpResponse:
    if request.headers.get("HX-Request"):  # htmx follows to the list
        return HttpResponse(headers={"HX-Redirect": reverse("agency-physicians")})
    return redirect("agency-physicians")
