"""Mobile H5 pages of the patient portal: SMS-code login, identity binding, the portal home."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from dualchannel.core.calendar import UnknownCalendarYear, working_days_between
from dualchannel.core.errors import DomainError, PermissionDenied
from dualchannel.core.masking import mask_phone
from dualchannel.core.permissions import has_any_role
from dualchannel.core.roles import Role
from dualchannel.eligibility.models import ApplicationStatus
from dualchannel.eligibility.selectors import application_list

from . import services
from .selectors import portal_profile

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def patient_required(view):
    """Anonymous visitors go to the portal login; other roles are refused."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"{reverse('portal-login')}?next={request.path}")
        if not has_any_role(request.user, [Role.PATIENT]):
            raise PermissionDenied()
        return view(request, *args, **kwargs)

    return wrapper


def _after_login(request: HttpRequest) -> str:
    if not request.user.insured_person_id:
        return reverse("portal-bind")
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("portal-home")


@require_http_methods(["GET", "POST"])
def portal_login(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and has_any_role(request.user, [Role.PATIENT]):
        return redirect(_after_login(request))
    error = None
    phone = request.POST.get("phone", "")
    if request.method == "POST":
        try:
            user = services.patient_login(phone=phone, code=request.POST.get("code", ""))
        except DomainError as exc:
            error = exc
        else:
            login(request, user, backend=MODEL_BACKEND)
            return redirect(_after_login(request))
    return TemplateResponse(
        request,
        "portal/login.html",
        {"error": error, "phone": phone, "next": request.GET.get("next", "")},
    )


@require_POST
def portal_login_code(request: HttpRequest) -> HttpResponse:
    """htmx: send a code to the phone in the form and answer with the status line."""
    phone = request.POST.get("phone", "")
    context: dict = {}
    try:
        issued = services.login_code_request(phone=phone)
    except DomainError as exc:
        context["error"] = exc
    else:
        context["masked_phone"] = mask_phone(services.clean_phone(phone))
        # No SMS leaves a demo installation, so the page shows the code instead.
        context["demo_code"] = issued.code if settings.DEMO_MODE else None
    return TemplateResponse(request, "portal/_code_status.html", context)


@require_POST
def portal_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("portal-login")


@require_http_methods(["GET", "POST"])
@patient_required
def portal_bind(request: HttpRequest) -> HttpResponse:
    if request.user.insured_person_id:
        return redirect("portal-home")
    error = None
    values = {"id_number": "", "name": ""}
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in values}
        try:
            services.identity_bind(actor=request.user, **values)
        except DomainError as exc:
            error = exc
        else:
            return redirect("portal-home")
    return TemplateResponse(request, "portal/bind.html", {"error": error, "values": values})


NEXT_STEPS = {
    ApplicationStatus.DRAFT: "责任医师正在填写申请",
    ApplicationStatus.SUBMITTED: "已提交，医院医保办正在调取检查报告",
    ApplicationStatus.MATERIALS_REQUESTED: "请按消息通知上传缺少的材料",
    ApplicationStatus.UNDER_REVIEW: "医院医保办审核中",
    ApplicationStatus.APPROVED: "已通过，可持处方到定点药店购药",
    ApplicationStatus.REJECTED: "未通过",
    ApplicationStatus.WITHDRAWN: "已撤回",
}


def progress_of(application) -> dict:
    """What the patient needs to see: status, the working-day clock and the next step."""
    days_left = None
    calendar_missing = False
    if application.status == ApplicationStatus.UNDER_REVIEW and application.review_due:
        try:
            days_left = working_days_between(timezone.localdate(), application.review_due)
        except UnknownCalendarYear:
            # Say so rather than guess from weekends; the agency loads the year's holidays.
            calendar_missing = True
    next_step = NEXT_STEPS[application.status]
    if application.status == ApplicationStatus.REJECTED and application.decision_reason:
        next_step = f"未通过：{application.decision_reason}"
    return {
        "application_no": application.application_no,
        "drug_name": application.drug.generic_name,
        "status": application.get_status_display(),
        "review_due": application.review_due,
        "days_left": days_left,
        "calendar_missing": calendar_missing,
        "next_step": next_step,
    }


@patient_required
def portal_home(request: HttpRequest) -> HttpResponse:
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    return TemplateResponse(
        request,
        "portal/home.html",
        {
            "profile": portal_profile(request.user),
            "applications": [progress_of(a) for a in application_list(request.user)[:20]],
        },
    )
