"""Reads of applications and eligibilities, scoped to the actor.

Physicians and reviewers see their own hospital's applications (physicians also those they
treat under five-fixed), patients their own, agency officers those of hospitals in their
region, admins all; everyone else nothing. Anything outside the scope is ``NotFound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from dualchannel.catalog.models import Drug
from dualchannel.catalog.selectors import criteria_in_force
from dualchannel.core.calendar import UnknownCalendarYear, working_days_between
from dualchannel.core.errors import NotFound
from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.integration.his import HisAdapter, HisPatient, get_his_adapter
from dualchannel.notifications.models import Notification
from dualchannel.registry.models import (
    DesignationStatus,
    Institution,
    InstitutionKind,
    InsuredPerson,
    Physician,
)
from dualchannel.registry.selectors import (
    insured_person_find,
    officer_region,
    public_institutions,
)

from .models import (
    OPEN_FILING_REQUESTS,
    Application,
    ApplicationStatus,
    Eligibility,
    EligibilityImport,
    EligibilityStatus,
    FilingRequestStatus,
    FilingUpload,
    Material,
    PatientFilingRequest,
    ReevaluationResult,
)

_NOTHING = Q(pk__in=[])
# HB art. 9: benefits continue while a re-evaluation is in progress
BENEFIT_STATUSES = (EligibilityStatus.ACTIVE, EligibilityStatus.IN_REEVALUATION)


def _active(actor: User | None) -> bool:
    return actor is not None and actor.is_authenticated and actor.is_active


def application_scope(actor: User | None) -> Q | None:
    """The filter of the applications ``actor`` may see; None means all (admins)."""
    if not _active(actor):
        return _NOTHING
    if actor.is_superuser:
        return None
    q = _NOTHING
    roles = actor.role_set
    if actor.institution_id and Role.PHYSICIAN in roles:
        q |= Q(hospital_id=actor.institution_id) | Q(treating_hospital_id=actor.institution_id)
    if actor.institution_id and Role.REVIEWER in roles:
        q |= Q(hospital_id=actor.institution_id)
    if actor.insured_person_id and Role.PATIENT in roles:
        q |= Q(patient_id=actor.insured_person_id)
    region = officer_region(actor)
    if region is not None:
        q |= Q(hospital__region__code__startswith=region.code_prefix)
    return q


def visible_applications(actor: User | None) -> QuerySet[Application]:
    qs = Application.objects.select_related(
        "patient",
        "drug",
        "hospital",
        "physician",
        "pharmacy",
        "treating_hospital",
        "treating_physician",
        "criteria_set",
    )
    scope = application_scope(actor)
    return qs if scope is None else qs.filter(scope)


def application_get(actor: User | None, application_id: int) -> Application:
    found = visible_applications(actor).filter(pk=application_id).first()
    if found is None:
        raise NotFound()
    return found


def application_list(
    actor: User | None, *, status: str | None = None, drug_id: int | None = None
) -> QuerySet[Application]:
    qs = visible_applications(actor)
    if status:
        qs = qs.filter(status=status)
    if drug_id:
        qs = qs.filter(drug_id=drug_id)
    return qs.order_by("-created_at", "-id")


def material_get(actor: User | None, material_id: int) -> Material:
    scope = application_scope(actor)
    qs = Material.objects.select_related("application")
    if scope is not None:
        qs = qs.filter(application__in=Application.objects.filter(scope))
    found = qs.filter(pk=material_id).first()
    if found is None:
        raise NotFound()
    return found


def eligibility_of(application: Application) -> Eligibility | None:
    return Eligibility.objects.filter(application=application).first()


@dataclass(frozen=True)
class QueueItem:
    application: Application
    working_days_left: int | None  # negative once overdue; None if the year's calendar is missing
    overdue: bool


def review_queue(actor: User | None, today: date | None = None) -> list[QueueItem]:
    """The reviewer's complete applications, most urgent first [HB art. 10: 7 working days]."""
    today = today or timezone.localdate()
    if not _active(actor):
        return []
    qs = visible_applications(actor).filter(status=ApplicationStatus.UNDER_REVIEW)
    if not actor.is_superuser:
        if not actor.has_role(Role.REVIEWER) or not actor.institution_id:
            return []
        qs = qs.filter(hospital_id=actor.institution_id)
    items = []
    for application in qs:
        due = application.review_due or today
        try:
            left = working_days_between(today, due)
        except UnknownCalendarYear:
            # The count needs the year's holidays; the order and the overdue flag do not.
            left = None
        items.append(QueueItem(application, left, due < today))
    # Working days left grow with the due date, so the due date orders the queue.
    items.sort(key=lambda i: (i.application.review_due or today, i.application.pk))
    return items


# --- eligibilities (scoped like their applications) -----------------------------------------


def visible_eligibilities(actor: User | None) -> QuerySet[Eligibility]:
    qs = Eligibility.objects.select_related(
        "application", "patient", "drug", "hospital", "physician", "pharmacy", "filing"
    )
    scope = application_scope(actor)
    if scope is None:
        return qs
    return qs.filter(application__in=Application.objects.filter(scope).values("pk"))


def eligibility_get(actor: User | None, eligibility_id: int) -> Eligibility:
    found = visible_eligibilities(actor).filter(pk=eligibility_id).first()
    if found is None:
        raise NotFound()
    return found


def eligibility_list(
    actor: User | None, *, status: str | None = None, drug_id: int | None = None
) -> QuerySet[Eligibility]:
    qs = visible_eligibilities(actor)
    if status:
        qs = qs.filter(status=status)
    if drug_id:
        qs = qs.filter(drug_id=drug_id)
    return qs.order_by("-effective_from", "-id")


def eligibility_benefits_active(eligibility: Eligibility, on: date | None = None) -> bool:
    """Whether the eligibility gives the benefit on ``on`` [HB art. 8–9].

    Active and in re-evaluation (benefits continue meanwhile) do; an active one whose deadline
    passed without a re-evaluation does not, even before the nightly job suspends it.
    """
    on = on or timezone.localdate()
    if eligibility.status not in BENEFIT_STATUSES or on < eligibility.effective_from:
        return False
    due = eligibility.next_reevaluation_due
    return not (eligibility.status == EligibilityStatus.ACTIVE and due is not None and on > due)


def current_plan(eligibility: Eligibility) -> dict[str, Any]:
    """The plan in force: the last adjusted one, else the application's."""
    adjusted = (
        eligibility.reevaluations.filter(
            result=ReevaluationResult.ADJUST, completed_at__isnull=False
        )
        .order_by("-completed_at", "-id")
        .first()
    )
    source = adjusted or eligibility.application
    return {
        "dose": source.dose,
        "frequency": source.frequency,
        "route": source.route,
        "total_quantity": source.total_quantity,
        "quantity_unit": source.quantity_unit or eligibility.application.quantity_unit,
        "period_start": source.period_start,
        "period_end": source.period_end,
    }


# --- the patient a physician opens ------------------------------------------------------------


@dataclass(frozen=True)
class HospitalPatient:
    person: InsuredPerson
    his: HisAdapter  # the system of the physician's own hospital
    found: HisPatient | None  # the person's record in it


def hospital_patient_find(actor: User | None, *, id_number: str) -> HospitalPatient:
    """An insured person the actor's hospital treats: its own hospital system holds them, or
    they have an application (certifying or treating) or an eligibility at this hospital.

    Anyone else — insured or not — is ``NotFound``: a physician of another hospital learns
    nothing, not even that the person is insured."""
    hospital = actor.institution if _active(actor) and actor.institution_id else None
    if hospital is None or hospital.kind != InstitutionKind.HOSPITAL:
        raise NotFound()
    person = insured_person_find(actor, id_number=id_number)
    his = get_his_adapter(hospital)
    found = his.find_patient(person.id_number)
    if found is None and not _known_here(person, hospital.pk):
        raise NotFound()
    return HospitalPatient(person=person, his=his, found=found)


def _known_here(person: InsuredPerson, hospital_id: int) -> bool:
    applied = Application.objects.filter(patient=person).filter(
        Q(hospital_id=hospital_id) | Q(treating_hospital_id=hospital_id)
    )
    held = Eligibility.objects.filter(patient=person, hospital_id=hospital_id)
    # the person's own request pushed to this hospital [HB art. 7(3)]
    asked = PatientFilingRequest.objects.filter(patient=person, hospital_id=hospital_id)
    return applied.exists() or held.exists() or asked.exists()


def visible_imports(actor: User | None) -> QuerySet[EligibilityImport]:
    """The register imports of the officer's region (all for admins) [HB art. 49]."""
    if not _active(actor):
        return EligibilityImport.objects.none()
    if actor.is_superuser:
        return EligibilityImport.objects.all()
    region = officer_region(actor)
    if region is None:
        return EligibilityImport.objects.none()
    return EligibilityImport.objects.filter(region__code__startswith=region.code_prefix)


# --- the patient's own filing requests [HB art. 7(1)(3)] ----------------------------------------


def filing_request_scope(actor: User | None) -> Q | None:
    """The patient's own requests; a hospital's physicians see the requests pushed to it."""
    if not _active(actor):
        return _NOTHING
    if actor.is_superuser:
        return None
    q = _NOTHING
    if actor.institution_id and Role.PHYSICIAN in actor.role_set:
        q |= Q(hospital_id=actor.institution_id)
    if actor.insured_person_id and Role.PATIENT in actor.role_set:
        q |= Q(patient_id=actor.insured_person_id)
    return q


def visible_filing_requests(actor: User | None) -> QuerySet[PatientFilingRequest]:
    qs = PatientFilingRequest.objects.select_related(
        "patient", "drug", "hospital", "taken_by", "application"
    )
    scope = filing_request_scope(actor)
    return qs if scope is None else qs.filter(scope)


def filing_request_get(actor: User | None, request_id: int) -> PatientFilingRequest:
    found = visible_filing_requests(actor).filter(pk=request_id).first()
    if found is None:
        raise NotFound()
    return found


def physician_filing_queue(actor: User | None) -> list[PatientFilingRequest]:
    """The open requests of the physician's hospital: those waiting for anyone, and those this
    physician took (another physician's taken request is theirs), the nearest limit first."""
    qs = visible_filing_requests(actor).filter(status__in=OPEN_FILING_REQUESTS)
    if not actor.is_superuser:
        qs = qs.filter(hospital_id=actor.institution_id).filter(
            Q(status=FilingRequestStatus.SUBMITTED)
            | Q(status=FilingRequestStatus.TAKEN, taken_by__user=actor)
        )
    return sorted(qs, key=lambda r: (r.due_on, r.pk))


def filing_upload_get(actor: User | None, upload_id: int) -> FilingUpload:
    scope = filing_request_scope(actor)
    qs = FilingUpload.objects.select_related("request")
    if scope is not None:
        qs = qs.filter(request__in=PatientFilingRequest.objects.filter(scope))
    found = qs.filter(pk=upload_id).first()
    if found is None:
        raise NotFound()
    return found


def physician_message_path(notification: Notification) -> str:
    """The request a physician's 新的患者备案申请 message is about (its page in the queue), if the
    recipient still sees it; "" for any other message."""
    if notification.template_code != "eligibility.filing_request_arrived":
        return ""
    number = (notification.context or {}).get("request_no", "")
    if not (number.startswith("HS") and number[2:].isdigit()):
        return ""
    if not visible_filing_requests(notification.recipient).filter(pk=int(number[2:])).exists():
        return ""
    return reverse("eligibility-doctor-filing-request", args=[int(number[2:])])


def city_pharmacies(hospital: Institution) -> list[Institution]:
    """Designated pharmacies of the hospital's pooling area (the city)."""
    city = (hospital.region_id or "")[:4]
    return list(
        public_institutions(kind=InstitutionKind.PHARMACY).filter(region__code__startswith=city)
    )


def filing_drugs(person: InsuredPerson) -> list[Drug]:
    """Drugs with a criteria set in force in the person's region: those a filing is made for."""
    sets = criteria_in_force(person.enrolment_region)
    return sorted((s.drug for s in sets), key=lambda drug: (drug.pinyin_initials, drug.pk))


def filing_hospitals(person: InsuredPerson) -> QuerySet[Institution]:
    """Designated hospitals of the person's city with at least one designated responsible
    physician [HB art. 7(3)]: the hospitals a request may be pushed to."""
    city = (person.enrolment_region_id or "")[:4]
    with_physicians = Physician.objects.filter(
        designations__status=DesignationStatus.ACTIVE
    ).values("hospital_id")
    return (
        public_institutions(kind=InstitutionKind.HOSPITAL)
        .filter(region__code__startswith=city, pk__in=with_physicians)
        .order_by("name", "pk")
    )


def waiting_working_days(since: date, today: date | None = None) -> int | None:
    """Working days a request has waited (None where the year's calendar is not loaded)."""
    try:
        return working_days_between(since, today or timezone.localdate())
    except UnknownCalendarYear:
        return None
