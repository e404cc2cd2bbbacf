"""The failed-jobs page: failed and dead background jobs of the actor's institution (an admin:
all), in words, with a retry button (``core.job_failures``)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from .job_failures import STAFF_ROLES, failed_jobs_for, job_retry
from .permissions import role_required


@role_required(*STAFF_ROLES)
def failed_jobs(request: HttpRequest) -> HttpResponse:
    rows = failed_jobs_for(request.user)
    return TemplateResponse(
        request,
        "core/failed_jobs.html",
        {
            "rows": rows,
            "dead_count": sum(1 for row in rows if row.dead),
            "all_institutions": request.user.is_superuser,
        },
    )


@require_POST
@role_required(*STAFF_ROLES)
def failed_job_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    job_retry(actor=request.user, job_id=job_id)
    messages.success(request, "已重新排队，稍后将自动执行")
    return redirect("core-failed-jobs")
