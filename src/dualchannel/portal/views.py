"""Mobile H5 pages of the patient portal: SMS-code login, identity binding, the portal home,
an application's progress and the upload of the materials it is waiting for."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dualchannel.catalog.models import MaterialKind
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.masking import mask_phone
from dualchannel.core.permissions import has_any_role, role_required
from dualchannel.core.roles import Role
from dualchannel.eligibility.models import ApplicationStatus
from dualchannel.eligibility.selectors import application_get, application_list
from dualchannel.eligibility.services import materials as eligibility_materials
from dualchannel.notifications.selectors import unread_count

from . import error_codes as codes
from . import services
from .selectors import patient_application, patient_filing_rows, portal_profile, progress_of

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


# The portal's own login (SMS code) for anonymous visitors; staff get the 403 page.
patient_required = role_required(Role.PATIENT, login_url="portal-login")


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
    # The button counts this down before a new code may be asked for.
    context: dict = {"resend_after": int(services.RESEND_INTERVAL.total_seconds())}
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
            "filing_requests": patient_filing_rows(request.user),
            "unread": unread_count(request.user),
        },
    )


# What the file inputs offer; the service still decides by the first bytes, never by these.
UPLOAD_ACCEPT = "application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png"
PHOTO_ACCEPT = "image/jpeg,image/png"


def _application_page(
    request: HttpRequest,
    application_id: int,
    *,
    error: DomainError | None = None,
    error_kind: str = "",
    status: int = 200,
) -> HttpResponse:
    return TemplateResponse(
        request,
        "portal/application.html",
        {
            "application": patient_application(request.user, application_id),
            "application_id": application_id,
            "upload_accept": UPLOAD_ACCEPT,
            "photo_accept": PHOTO_ACCEPT,
            "error": error,
            "error_kind": error_kind,
        },
        status=status,
    )


@require_GET
@patient_required
def portal_application(request: HttpRequest, application_id: int) -> HttpResponse:
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    return _application_page(request, application_id)


@require_POST
@patient_required
def portal_material_upload(request: HttpRequest, application_id: int) -> HttpResponse:
    """One requested material per post; a refusal is shown on the page with nothing written."""
    if not request.user.insured_person_id:
        return redirect("portal-bind")
    kind = request.POST.get("kind", "")
    # The form offers "choose a file" and "take a photo": both post as ``file``.
    files = request.FILES.getlist("file")
    try:
        if not files:
            raise DomainError(
                codes.FILE_REQUIRED, "请先选择文件或拍照", fields={"file": ["请选择文件"]}
            )
        if len(files) > 1:
            raise DomainError(
                codes.ONE_FILE_PER_UPLOAD,
                "每次只能上传一个文件，请重新选择",
                fields={"file": ["只能选择一个文件"]},
            )
        eligibility_materials.material_upload(
            actor=request.user,
            application_id=application_id,
            kind=kind,
            filename=files[0].name or "",
            content_type=files[0].content_type or "",
            # Read one byte past the limit: the service refuses anything longer.
            content=files[0].read(eligibility_materials.MAX_UPLOAD_BYTES + 1),
        )
    except NotFound:
        raise  # not the caller's application: the same 404 as a missing one
    except DomainError as exc:
        return _application_page(
            request, application_id, error=exc, error_kind=kind, status=exc.status
        )
    label = MaterialKind(kind).label
    if application_get(request.user, application_id).status == ApplicationStatus.UNDER_REVIEW:
        messages.success(request, f"已上传「{label}」。材料已齐全，医院医保办开始审核")
    else:
        messages.success(request, f"已上传「{label}」，等待医院医保办核验")
    return redirect("portal-application", application_id=application_id)
