"""Reads shared by the API and the pages, already scoped to the actor.

Scope: agency officers see their agency's region subtree; hospital staff their own hospital and
its physicians; pharmacists their own pharmacy; patients only themselves; admins everything;
anyone else nothing. An object outside the scope raises ``NotFound``, exactly like a missing one.
Public selectors return designated institutions only and never personal data.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import date

from django.apps import apps
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from dualchannel.core.errors import NotFound
from dualchannel.core.masking import mask_id_number, mask_name
from dualchannel.core.models import AuditEvent, User
from dualchannel.core.permissions import require_role
from dualchannel.core.queries import CompiledRead
from dualchannel.core.roles import Role

from . import error_codes as codes
from . import public_cache
from .models import (
    BenefitStatus,
    Designation,
    DesignationStatus,
    EnrolmentChange,
    EquippedDrug,
    FilingReview,
    FilingReviewStatus,
    InpatientStay,
    Institution,
    InstitutionKind,
    InsuredPerson,
    OutOfAreaFiling,
    Pharmacist,
    Physician,
    PolicyProfile,
    Region,
)
from .profiles import designation_terms, profile_for, profile_or_none

_NOTHING = Q(pk__in=[])
HOSPITAL_ROLES = frozenset({Role.PHYSICIAN, Role.REVIEWER})
STAFF_ROLES = frozenset({Role.PHYSICIAN, Role.REVIEWER, Role.PHARMACIST})


def _authenticated(actor: User | None) -> bool:
    return actor is not None and actor.is_authenticated and actor.is_active


def officer_region(actor: User | None) -> Region | None:
    """The region an agency officer administers (their agency's region), else None."""
    if not _authenticated(actor) or not actor.has_role(Role.AGENCY_OFFICER):
        return None
    inst = actor.institution
    if inst is None or inst.kind != InstitutionKind.AGENCY:
        return None
    return inst.region


def staff_institution_id(actor: User | None, roles=STAFF_ROLES) -> int | None:
    """The institution a physician, reviewer or pharmacist works for."""
    if not _authenticated(actor) or not actor.institution_id:
        return None
    if actor.role_set.intersection(roles):
        return actor.institution_id
    return None


def _scope(actor: User | None, *, officer_field: str | None, own: Q | None) -> Q | None:
    """None means everything (admins); otherwise a filter, possibly matching nothing."""
    if not _authenticated(actor):
        return _NOTHING
    if actor.is_superuser:
        return None
    q = _NOTHING
    region = officer_region(actor)
    if region is not None and officer_field is not None:
        q |= Q(**{f"{officer_field}__startswith": region.code_prefix})
    if own is not None:
        q |= own
    return q


def _apply(qs: QuerySet, scope: Q | None) -> QuerySet:
    return qs if scope is None else qs.filter(scope)


def current_designation_subquery(field: str = "institution"):
    return Designation.objects.filter(**{field: OuterRef("pk")}).order_by("-created_at", "-id")


# Institutions ---------------------------------------------------------------------------------


def visible_institutions(actor: User | None) -> QuerySet[Institution]:
    own_id = staff_institution_id(actor)
    own = Q(pk=own_id) if own_id else None
    qs = Institution.objects.select_related("region", "region__parent").annotate(
        designation_status=Subquery(current_designation_subquery().values("status")[:1])
    )
    return _apply(qs, _scope(actor, officer_field="region__code", own=own))


def institution_list(
    actor: User | None,
    *,
    kind: str | None = None,
    region: str | None = None,
    status: str | None = None,
    q: str | None = None,
) -> QuerySet[Institution]:
    qs = visible_institutions(actor)
    if kind:
        qs = qs.filter(kind=kind)
    if region:
        qs = qs.filter(region__code__startswith=_prefix_of(region))
    if status:
        qs = qs.filter(designation_status=status)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(credit_code__iexact=q))
    return qs.order_by("region_id", "name")


def institution_get(actor: User | None, pk: int) -> Institution:
    found = visible_institutions(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def _prefix_of(region_code: str) -> str:
    region = Region.objects.filter(code=region_code).first()
    return region.code_prefix if region is not None else region_code


# Designations ---------------------------------------------------------------------------------


def visible_designations(actor: User | None) -> QuerySet[Designation]:
    qs = Designation.objects.select_related(
        "institution", "institution__region", "physician", "physician__hospital"
    )
    if not _authenticated(actor):
        return qs.none()
    if actor.is_superuser:
        return qs
    q = _NOTHING
    region = officer_region(actor)
    if region is not None:
        q |= Q(institution__region__code__startswith=region.code_prefix)
        q |= Q(physician__hospital__region__code__startswith=region.code_prefix)
    own_id = staff_institution_id(actor)
    if own_id:
        q |= Q(institution_id=own_id) | Q(physician__hospital_id=own_id)
    return qs.filter(q)


def designation_list(
    actor: User | None,
    *,
    institution_id: int | None = None,
    physician_id: int | None = None,
    subject: str | None = None,
    status: str | None = None,
) -> QuerySet[Designation]:
    qs = visible_designations(actor)
    if institution_id:
        qs = qs.filter(institution_id=institution_id)
    if physician_id:
        qs = qs.filter(physician_id=physician_id)
    if subject == "institution":
        qs = qs.filter(institution__isnull=False)
    elif subject == "physician":
        qs = qs.filter(physician__isnull=False)
    if status:
        qs = qs.filter(status=status)
    return qs


def designation_get(actor: User | None, pk: int) -> Designation:
    found = visible_designations(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def designation_history(designation: Designation):
    return designation.history.select_related("actor").order_by("at", "id")


# Physicians and pharmacists -------------------------------------------------------------------


def visible_physicians(actor: User | None) -> QuerySet[Physician]:
    own_id = staff_institution_id(actor, HOSPITAL_ROLES)
    own = Q(hospital_id=own_id) if own_id else None
    qs = Physician.objects.select_related("hospital", "hospital__region").annotate(
        designation_status=Subquery(current_designation_subquery("physician").values("status")[:1])
    )
    return _apply(qs, _scope(actor, officer_field="hospital__region__code", own=own))


def physician_list(
    actor: User | None, *, hospital_id: int | None = None, status: str | None = None
) -> QuerySet[Physician]:
    qs = visible_physicians(actor)
    if hospital_id:
        qs = qs.filter(hospital_id=hospital_id)
    if status:
        qs = qs.filter(designation_status=status)
    return qs.order_by("hospital_id", "name")


def physician_get(actor: User | None, pk: int) -> Physician:
    found = visible_physicians(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def visible_pharmacists(actor: User | None) -> QuerySet[Pharmacist]:
    own_id = staff_institution_id(actor, frozenset({Role.PHARMACIST}))
    own = Q(pharmacy_id=own_id) if own_id else None
    qs = Pharmacist.objects.select_related("pharmacy")
    return _apply(qs, _scope(actor, officer_field="pharmacy__region__code", own=own))


def pharmacist_list(actor: User | None, *, pharmacy_id: int | None = None):
    qs = visible_pharmacists(actor)
    if pharmacy_id:
        qs = qs.filter(pharmacy_id=pharmacy_id)
    return qs.order_by("pharmacy_id", "name")


def pharmacist_get(actor: User | None, pk: int) -> Pharmacist:
    found = visible_pharmacists(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


# Insured persons ------------------------------------------------------------------------------


def visible_insured_persons(actor: User | None) -> QuerySet[InsuredPerson]:
    own = None
    if _authenticated(actor) and actor.has_role(Role.PATIENT) and actor.insured_person_id:
        own = Q(pk=actor.insured_person_id)
    qs = InsuredPerson.objects.select_related("enrolment_region")
    return _apply(qs, _scope(actor, officer_field="enrolment_region__code", own=own))


def insured_person_list(actor: User | None, *, q: str | None = None):
    qs = visible_insured_persons(actor)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(id_number=q.upper()) | Q(person_no=q))
    return qs.order_by("-created_at", "-id")


def insured_person_get(actor: User | None, pk: int) -> InsuredPerson:
    found = visible_insured_persons(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def insured_person_find(actor: User | None, *, id_number: str) -> InsuredPerson:
    """Exact lookup by ID number for clinical staff and officers (no browsing, no listing)."""
    if not _authenticated(actor):
        raise NotFound()
    if not (
        actor.is_superuser
        or officer_region(actor) is not None
        or staff_institution_id(actor) is not None
    ):
        raise NotFound()
    found = InsuredPerson.objects.filter(id_number=(id_number or "").strip().upper()).first()
    if found is None:
        raise NotFound()
    region = officer_region(actor)
    officer_only = staff_institution_id(actor) is None and not actor.is_superuser
    if (
        region is not None
        and officer_only
        and not found.enrolment_region_id.startswith(region.code_prefix)
    ):
        raise NotFound()
    return found


def can_see_full_identifiers(actor: User | None, person: InsuredPerson) -> bool:
    """Officers of the person's region (and admins) may see the unmasked ID and phone."""
    if not _authenticated(actor):
        return False
    if actor.is_superuser:
        return True
    region = officer_region(actor)
    return region is not None and person.enrolment_region_id.startswith(region.code_prefix)


def audit_events_for_patient(*, actor: User, id_number: str) -> QuerySet[AuditEvent]:
    """Every event about one insured person, newest first, for on-site inspections [P §4].

    Agency officers see persons enrolled in their agency's region; admins see everyone. Here, not
    in core: the person and the region scope are the registry's; the ledger is core's.
    """
    require_role(actor, Role.AGENCY_OFFICER)
    persons = InsuredPerson.objects.filter(id_number=id_number.strip().upper())
    if not actor.is_superuser:
        region = actor.institution.region if actor.institution_id else None
        if region is None:
            raise NotFound()
        persons = persons.filter(enrolment_region__code__startswith=region.code_prefix)
    person = persons.first()
    if person is None:
        raise NotFound("audit.patient_not_found", "未找到该参保人，或不在本统筹区")
    return (
        AuditEvent.objects.filter(patient=person)
        .select_related("actor", "institution")
        .order_by("-occurred_at", "-id")
    )


# Equipped drugs and profiles ------------------------------------------------------------------


def equipped_drug_list(actor: User | None, *, institution_id: int):
    institution = institution_get(actor, institution_id)
    return EquippedDrug.objects.filter(institution=institution).select_related("drug")


def profile_get(region_code: str) -> PolicyProfile:
    """The effective profile of a region (its own or the nearest ancestor's); public data."""
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise NotFound()
    return profile_for(region)


# Public ---------------------------------------------------------------------------------------


def public_regions(parent: str | None = None) -> QuerySet[Region]:
    """Provinces when ``parent`` is empty, else the children of ``parent``."""
    if parent:
        return Region.objects.filter(parent_id=parent).order_by("code")
    return Region.objects.filter(level="province").order_by("code")


def _active_designation():
    return Designation.objects.filter(institution=OuterRef("pk"), status=DesignationStatus.ACTIVE)


def public_institutions(
    *, region: str | None = None, kind: str | None = None, drug: str | None = None
) -> QuerySet[Institution]:
    """Designated (ACTIVE) hospitals and pharmacies, by region subtree, kind and drug.

    ``drug`` is a drug id, a generic name (substring) or its pinyin initials.
    """
    qs = (
        Institution.objects.filter(kind__in=[InstitutionKind.HOSPITAL, InstitutionKind.PHARMACY])
        .filter(Exists(_active_designation()))
        .select_related("region", "region__parent", "region__parent__parent")
    )
    if region:
        qs = qs.filter(region__code__startswith=_prefix_of(region))
    if kind:
        qs = qs.filter(kind=kind)
    if drug:
        drug = drug.strip()
        if drug.isdigit():
            match = Q(drug_id=int(drug))
        else:
            # The matching drugs once (an uncorrelated subquery), not a join per institution.
            drugs = EquippedDrug.drug.field.related_model.objects.filter(
                Q(generic_name__icontains=drug) | Q(pinyin_initials__istartswith=drug)
            )
            match = Q(drug_id__in=drugs.values("pk"))
        # Listed as equipped, or actually in stock (unexpired); the stock also says "有货".
        stock = _stock_of(match)
        qs = qs.annotate(in_stock=Exists(stock)).filter(
            Exists(EquippedDrug.objects.filter(match, institution=OuterRef("pk"))) | Exists(stock)
        )
    return qs.order_by("region_id", "kind", "name")


class PublicResults(Sequence):
    """The institutions of a public query in order; a slice reads only its own rows.

    The ordered ids (with "in stock" when a drug was asked) come from ``public_cache``: counting
    and paging a city's 2,000 pharmacies costs no query of its own.
    """

    def __init__(self, rows: list[tuple[int, bool | None]], version: tuple):
        self._rows = rows
        self._version = version

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1 or None][0]
        rows = self._rows[index]
        pks = tuple(pk for pk, _ in rows)
        # The page's rows are kept too (a page of the API is asked again and again): copies
        # carry this query's "in stock", the kept rows stay as read.
        found = public_cache.cached(
            ("institution rows", pks),
            lambda: Institution.objects.select_related(
                "region", "region__parent", "region__parent__parent"
            ).in_bulk(pks),
            version=self._version,
        )
        page = []
        for pk, in_stock in rows:
            if pk in found:  # deleted since: institutions are PROTECTed, so hardly ever
                institution = copy.copy(found[pk])
                institution.in_stock = in_stock
                page.append(institution)
        return page


def public_institutions_cached(
    *, region: str | None = None, kind: str | None = None, drug: str | None = None
) -> PublicResults:
    """``public_institutions``, its ids kept per worker while the data is unchanged."""

    def ids() -> list[tuple[int, bool | None]]:
        found = public_institutions(region=region, kind=kind, drug=drug)
        if drug:
            return list(found.values_list("pk", "in_stock"))
        return [(pk, None) for pk in found.values_list("pk", flat=True)]

    version = public_cache.data_version()
    found = public_cache.cached(("institutions", region, kind, drug), ids, version=version)
    return PublicResults(found, version)


def public_regions_cached(parent: str | None = None) -> list[Region]:
    """Regions change only when ``registry_load_regions`` runs: kept for minutes, not versioned."""
    return public_cache.reference(("regions", parent or None), lambda: list(public_regions(parent)))


def _stock_of(match: Q):
    """Sellable stock of the matched drug at the outer pharmacy (inventory is a later app)."""

    stock_item = apps.get_model("inventory", "StockItem")
    return stock_item.objects.filter(
        match,
        pharmacy=OuterRef("pk"),
        quantity__gt=0,
        expiry_date__gte=timezone.localdate(),
    )


def public_institution_get(pk: int) -> Institution:
    found = public_institutions().filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def public_equipped_drugs(institution: Institution):
    return (
        EquippedDrug.objects.filter(institution=institution)
        .select_related("drug")
        .order_by("drug__generic_name")
    )


def public_physicians(hospital_ids: list[int]) -> dict[int, list[Physician]]:
    """The responsible physicians (an active designation) of these hospitals, published by the
    agency [HB art. 16, CX art. 16, 20]: name, department and title, nothing else."""
    found: dict[int, list[Physician]] = {pk: [] for pk in hospital_ids}
    designated = Designation.objects.filter(
        physician=OuterRef("pk"), status=DesignationStatus.ACTIVE
    )
    rows = (
        Physician.objects.filter(hospital_id__in=hospital_ids)
        .filter(Exists(designated))
        .only("pk", "hospital_id", "name", "department", "title")
        .order_by("hospital_id", "department", "name")
    )
    for physician in rows:
        found[physician.hospital_id].append(physician)
    return found


def public_designation_terms(region_code: str) -> dict | None:
    """The designation conditions, process and time limit of the region's profile (public)."""
    region = Region.objects.filter(code=region_code).first()
    return designation_terms(profile_or_none(region)) if region is not None else None


# Benefit status -------------------------------------------------------------------------------


def benefit_status_problem(person: InsuredPerson) -> str | None:
    """None while the person 正常享受医保待遇 [HB art. 2, CX art. 5]; else why not (Chinese).

    Checked at application, at prescribing and at settlement.
    """
    if person.benefit_status == BenefitStatus.NORMAL:
        return None
    return f"参保人待遇状态为「{person.get_benefit_status_display()}」，不能享受双通道药品待遇"


def person_card(person: InsuredPerson) -> dict[str, str | None]:
    """What a page shows of a person fetched from the platform: masked name and ID number, the
    insurance type, the enrolment region, the benefit status and why it bars benefits."""
    return {
        "masked_name": mask_name(person.name),
        "masked_id": mask_id_number(person.id_number),
        "insurance": person.get_insurance_type_display(),
        "region": person.enrolment_region.name,
        "status": person.get_benefit_status_display(),
        "problem": benefit_status_problem(person),
    }


_LATER_CHANGE = CompiledRead(  # a person's first transfer after a day, with the region it left
    lambda person_id, on: (
        EnrolmentChange.objects.filter(person_id=person_id, effective_on__gt=on)
        .select_related("from_region")
        .order_by("effective_on", "id")[:1]
    ),
    int,
    date,
)


def enrolment_region_on(person: InsuredPerson, on: date) -> Region:
    """The person's enrolment region (参保地) on ``on`` [HB art. 50]: the region left by the first
    transfer after that day, else the current one. Benefits follow it."""
    later = _LATER_CHANGE.one(person.pk, on)
    return later.from_region if later is not None else person.enrolment_region


def stay_at(hospital_id: int, admission_no: str):
    """The registered stay of a hospital by its admission number, or None [AH §2(5)]."""
    return InpatientStay.objects.filter(hospital_id=hospital_id, admission_no=admission_no).first()


def filing_form_problem(document_id: int | None) -> str:
    """Why a filing form is not valid yet, or "": an inpatient form is valid only once the
    hospital insurance office approved it (医院医保办审核意见) [AH annex]; an outpatient form
    has no such review."""
    if not document_id:
        return ""
    review = FilingReview.objects.filter(document_id=document_id).first()
    if review is None or review.status == FilingReviewStatus.APPROVED:
        return ""
    if review.status == FilingReviewStatus.REFUSED:
        return f"住院外购备案表未通过医院医保办审核：{review.opinion}"
    return "住院外购备案表尚待医院医保办审核，审核同意后方可购药"


def stays_for(actor: User) -> QuerySet:
    """The stays registered at the actor's hospital (its insurance office's), newest first."""
    require_role(actor, Role.REVIEWER)
    qs = InpatientStay.objects.select_related("person", "hospital")
    if actor.is_superuser:
        return qs
    return qs.filter(hospital_id=actor.institution_id) if actor.institution_id else qs.none()


def stay_get(actor: User, stay_id: int) -> InpatientStay:
    stay = stays_for(actor).filter(pk=stay_id).first()
    if stay is None:
        raise NotFound(codes.STAY_NOT_FOUND, "住院登记不存在或不是本院的")
    return stay


def filing_reviews_for(actor: User) -> QuerySet:
    """The inpatient filing forms of the actor's hospital's stays, for its insurance office."""
    require_role(actor, Role.REVIEWER)
    qs = FilingReview.objects.select_related("stay", "stay__person", "document")
    if actor.is_superuser:
        return qs
    if not actor.institution_id:
        return qs.none()
    return qs.filter(stay__hospital_id=actor.institution_id)


def visible_filings(actor: User) -> QuerySet[OutOfAreaFiling]:
    """Filings of the officer's region, or recorded at the reviewer's hospital."""
    qs = OutOfAreaFiling.objects.select_related("person__enrolment_region", "treating_region")
    if actor.is_superuser:
        return qs
    region = officer_region(actor)
    if region is not None:
        return qs.filter(person__enrolment_region__code__startswith=region.code_prefix)
    hospital_id = staff_institution_id(actor, frozenset({Role.REVIEWER}))
    if hospital_id is not None:
        return qs.filter(recorded_at_institution_id=hospital_id)
    return qs.none()
