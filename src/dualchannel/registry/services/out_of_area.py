"""Recording a cross-province filing (异地就医备案) [HB art. 41, CX art. 17]; one transaction,
locked, checked, audited. The read that uses it is ``registry.out_of_area``.

Recorded by an officer of the person's enrolment region (参保地经办机构) or by the insurance
office (医保办) of a hospital in the person's pooling region (a referral). Within the province no
filing is needed [HB art. 40], so a filing for a place in the person's own province is refused.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, NotFound, field_error
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role

from .. import error_codes as codes
from ..models import (
    InsuredPerson,
    OutOfAreaFiling,
    OutOfAreaFilingKind,
    Region,
)
from ..out_of_area import pooling_code, province_code
from ..profiles import cited, region_citation
from ..selectors import officer_region, staff_institution_id, visible_filings
from .common import clean_text, officer_covers

MAX_FILING_DAYS = 366 * 5


def _recorder_institution(actor: User, person: InsuredPerson):
    """The agency or hospital recording it; a person outside the actor's scope is missing."""
    require_role(actor, Role.AGENCY_OFFICER, Role.REVIEWER)
    region = officer_region(actor)
    if region is not None and officer_covers(actor, person.enrolment_region_id):
        return actor.institution
    hospital_id = staff_institution_id(actor, frozenset({Role.REVIEWER}))
    if hospital_id is not None and pooling_code(actor.institution.region_id) == pooling_code(
        person.enrolment_region_id
    ):
        return actor.institution
    if actor.is_superuser and actor.institution_id:
        return actor.institution
    raise NotFound(codes.REGION_OUT_OF_SCOPE, "参保人不存在或不属于本机构辖区")


def _clean(person: InsuredPerson, treating_region: str, kind: str, start, end) -> Region:
    region = Region.objects.filter(code=(treating_region or "").strip()).first()
    if region is None:
        raise field_error(
            "treating_region",
            codes.FILING_INVALID_REGION,
            f"就医地区划代码 {treating_region} 不存在",
        )
    if province_code(region.code) == province_code(person.enrolment_region_id):
        raise field_error(
            "treating_region",
            codes.FILING_NOT_NEEDED,
            cited(
                "省内异地就医购药直接结算，无需办理异地就医备案",
                region_citation(person.enrolment_region_id, "out_of_area_no_filing"),
            ),
        )
    if kind not in OutOfAreaFilingKind.values:
        raise field_error("kind", codes.FILING_INVALID_KIND, "请选择备案类型")
    if not isinstance(start, date) or not isinstance(end, date):
        raise field_error("valid_to", codes.FILING_INVALID_PERIOD, "请填写备案开始和截止日期")
    if end < start:
        raise field_error("valid_to", codes.FILING_INVALID_PERIOD, "备案截止日期不能早于开始日期")
    if (end - start).days > MAX_FILING_DAYS:
        raise field_error("valid_to", codes.FILING_INVALID_PERIOD, "备案有效期不能超过五年")
    return region


def out_of_area_filing_create(
    *,
    actor: User,
    person_id_number: str,
    treating_region: str,
    kind: str,
    valid_from: date,
    valid_to: date,
) -> OutOfAreaFiling:
    """Record a cross-province filing: from then on a purchase in the filed place (the province,
    or a city or county in it) settles directly while the filing is valid [HB art. 41]."""
    number = (person_id_number or "").strip().upper() if isinstance(person_id_number, str) else ""
    found = InsuredPerson.objects.filter(id_number=number).first() if number else None
    if found is None:
        raise NotFound(codes.REGION_OUT_OF_SCOPE, "参保人不存在或不属于本机构辖区")
    institution = _recorder_institution(actor, found)
    region = _clean(found, treating_region, kind, valid_from, valid_to)
    with transaction.atomic():
        person = InsuredPerson.objects.select_for_update(no_key=True).get(pk=found.pk)
        filing = OutOfAreaFiling.objects.create(
            filing_no=f"tmp-{person.pk}-{valid_from:%Y%m%d}",
            person=person,
            treating_region=region,
            kind=kind,
            valid_from=valid_from,
            valid_to=valid_to,
            recorded_by=actor,
            recorded_at_institution=institution,
        )
        filing.filing_no = f"YDBA{valid_from:%Y%m%d}{filing.pk:08d}"
        filing.save(update_fields=["filing_no"])
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.out_of_area_filed",
            subject=filing,
            after=filing,
            patient=person,
            summary={
                "filing_no": filing.filing_no,
                "treating_region": region.code,
                "kind": kind,
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat(),
            },
        )
    return filing


def _cancel_day(filing: OutOfAreaFiling, cancelled_on: date | None) -> date:
    """The cancellation day: today unless told, never in the past (purchases already settled
    under the filing stay settled), never after the filing ends (nothing left to cancel)."""
    today = timezone.localdate()
    day = cancelled_on or today
    if not isinstance(day, date) or day < today or day > filing.valid_to:
        raise field_error(
            "cancelled_on",
            codes.FILING_CANCEL_INVALID_DATE,
            "撤销生效日期不能早于今天，也不能晚于备案截止日期",
        )
    return day


def out_of_area_filing_cancel(
    *, actor: User, filing_id: int, reason: str, cancelled_on: date | None = None
) -> OutOfAreaFiling:
    """撤销备案: from ``cancelled_on`` (today unless told) the filing no longer covers a
    purchase — the counter refuses direct settlement there and the person pays and claims at
    home [HB art. 41, CX art. 17]. By whoever may see it (the enrolment region's officer, or the
    insurance office of the hospital that recorded it); with its reason and audit event."""
    require_role(actor, Role.AGENCY_OFFICER, Role.REVIEWER)
    found = visible_filings(actor).filter(pk=filing_id).first()
    if found is None:
        raise NotFound(codes.FILING_NOT_FOUND, "备案不存在或不属于本机构")
    reason = clean_text("reason", reason, max_length=200)
    if not reason:
        raise field_error("reason", codes.FILING_CANCEL_REASON_REQUIRED, "请填写撤销备案的原因")
    with transaction.atomic():
        # core.locks order: the person, then the filing (a row of the person's)
        InsuredPerson.objects.select_for_update(no_key=True).get(pk=found.person_id)
        filing = OutOfAreaFiling.objects.select_for_update(no_key=True).get(pk=found.pk)
        if filing.cancelled_on is not None:
            raise Conflict(
                codes.FILING_ALREADY_CANCELLED,
                f"该备案已于 {filing.cancelled_on:%Y-%m-%d} 撤销",
            )
        day = _cancel_day(filing, cancelled_on)
        before = snapshot(filing)
        filing.cancelled_on = day
        filing.cancel_reason = reason
        filing.cancelled_by = actor
        filing.cancelled_at = timezone.now()
        filing.save(update_fields=["cancelled_on", "cancel_reason", "cancelled_by", "cancelled_at"])
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.out_of_area_filing_cancelled",
            subject=filing,
            before=before,
            after=filing,
            patient=filing.person,
            summary={"filing_no": filing.filing_no, "cancelled_on": day.isoformat()},
        )
    return filing
