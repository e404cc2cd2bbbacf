"""Transfer of a person's insurance relation to another pooling region of the province
[HB art. 50]: recorded as an ``EnrolmentChange`` with its date, the person's enrolment region
moved, one audit event. Benefits follow the new region's rules from the transfer date
(``selectors.enrolment_region_on``). Refused, nothing written: a region without a policy
profile, another province, the same region, a date in the future or before the last transfer.
The eligibility's side (its rights move with the person) is ``eligibility``'s, which calls this
inside its own transaction."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role

from .. import error_codes as codes
from ..citation_words import citation_in_words
from ..models import EnrolmentChange, InsuredPerson, Region
from ..profiles import profile_for
from .common import clean_region, clean_text, officer_covers


def _province(code: str) -> str:
    return code[:2]


def transfer_checked(person: InsuredPerson, to_region: str | Region, on: date | None) -> tuple:
    """The target region and date, refused with a code and a Chinese message when wrong."""
    region = clean_region(to_region, field="to_region")
    if region.code == person.enrolment_region_id:
        raise DomainError(
            codes.TRANSFER_SAME_REGION, "转入地与现参保地相同", fields={"to_region": ["相同"]}
        )
    if _province(region.code) != _province(person.enrolment_region_id):
        raise DomainError(
            codes.TRANSFER_ACROSS_PROVINCES,
            f"用药资格仅随省内参保关系转移接续（{citation_in_words('HB art. 50')}），"
            "跨省转移请在转入地重新申请",
            fields={"to_region": ["非本省"]},
        )
    try:
        profile_for(region)
    except DomainError:
        raise DomainError(
            codes.TRANSFER_NO_PROFILE,
            f"转入地 {region.name} 未配置双通道政策参数，不能办理转移",
            fields={"to_region": ["未配置政策参数"]},
        ) from None
    today = timezone.localdate()
    on = on or today
    last = person.enrolment_changes.order_by("-effective_on").values_list("effective_on", flat=True)
    if on > today or (last.first() is not None and on < last.first()):
        raise DomainError(
            codes.TRANSFER_INVALID_DATE,
            "转移生效日期不能晚于今天，也不能早于上一次转移",
            fields={"effective_on": ["日期无效"]},
        )
    return region, on


def insured_person_transfer(
    *,
    actor: User,
    person_id: int,
    to_region: str | Region,
    effective_on: date | None = None,
    reason: str = "",
) -> EnrolmentChange:
    """Move the person's enrolment region within the province from ``effective_on`` [HB art. 50].
    An officer of the region left or the region joined; joins the caller's transaction."""
    require_role(actor, Role.AGENCY_OFFICER)
    reason = clean_text("reason", reason, max_length=200)
    with transaction.atomic():
        found = InsuredPerson.objects.filter(pk=person_id).first()
        target = to_region.code if isinstance(to_region, Region) else str(to_region or "")
        # the region left (转出地) or the region joined (转入地); a province's officer covers both
        if found is None or not (
            officer_covers(actor, found.enrolment_region_id)
            or (target and officer_covers(actor, target))
        ):
            raise NotFound()
        region, on = transfer_checked(found, to_region, effective_on)
        locked = InsuredPerson.objects.select_for_update().get(pk=person_id)
        before = snapshot(locked)
        change = EnrolmentChange.objects.create(
            person=locked,
            from_region_id=locked.enrolment_region_id,
            to_region=region,
            effective_on=on,
            reason=reason,
            recorded_by=actor,
        )
        locked.enrolment_region = region
        locked.save(update_fields=["enrolment_region"])
        audit.record(
            actor=actor,
            role=actor_role(actor),
            action="registry.insured_person_transferred",
            subject=locked,
            before=before,
            after=locked,
            patient=locked,
            summary={
                "from": change.from_region_id,
                "to": region.code,
                "effective_on": on.isoformat(),
            },
        )
    return change
