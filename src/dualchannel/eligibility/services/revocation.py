"""Revocation of an eligibility for fraud [HB art. 12]: forged or altered medical documents,
resale of the drug, lending the insurance credential. An agency officer of the region ends the
eligibility at once, with the reason, the evidence (a note and an optional PDF/JPEG/PNG) and the
date the fraud began; its 2503 filing is ended like a stop's, and the patient is told.

This is the eligibility's own state change only. The business action that also recovers what
the fund paid under it is ``settlement.services.revocation.eligibility_revoke_for_fraud`` (the
eligibility app cannot reach settlement): it calls ``eligibility_revoke`` inside its transaction,
which locks the eligibility before settlement locks the settlements (``core.locks`` order).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import transition
from dualchannel.core.uploads import checked_upload
from dualchannel.notifications.services import notify

from .. import error_codes as codes
from .. import selectors
from ..models import ELIGIBILITY_MACHINE, Eligibility, EligibilityStatus, RevocationKind
from .common import cancel_filing, day_or_today, required_text

E = EligibilityStatus
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
REASON_MAX = 500
EVIDENCE_MAX = 2000


@dataclass(frozen=True)
class EvidenceFile:
    """An uploaded evidence file as received (checked by ``core.uploads``)."""

    name: str
    content: bytes
    content_type: str = ""


@dataclass(frozen=True)
class Revocation:
    """What the officer gives, checked before anything is locked."""

    kind: str
    reason: str
    evidence: str
    fraud_from: date | None
    file: EvidenceFile | None


def revocation_checked(
    *,
    kind: str,
    reason: str,
    evidence: str = "",
    fraud_from: date | str | None = None,
    file: EvidenceFile | None = None,
    today: date | None = None,
) -> Revocation:
    """The officer's input, refused with a code and a Chinese message when wrong [HB art. 12]."""
    if kind not in RevocationKind.values:
        raise DomainError(
            codes.REVOCATION_INVALID_KIND,
            "请选择取消用药资格的欺诈情形",
            fields={"kind": [f"应为 {'、'.join(RevocationKind.values)} 之一"]},
        )
    reason = required_text(reason, "reason", codes.REASON_REQUIRED, "请填写取消理由", REASON_MAX)
    evidence = (evidence or "").strip()
    if len(evidence) > EVIDENCE_MAX:
        raise DomainError(
            codes.TEXT_TOO_LONG, "证据说明过长", fields={"evidence": [f"≤{EVIDENCE_MAX}字"]}
        )
    when = _date(fraud_from, day_or_today(today))
    if file is not None:
        _check_file(file)
    return Revocation(kind, reason, evidence, when, file)


def _date(value: date | str | None, today: date) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, date) or value > today:
        raise DomainError(
            codes.REVOCATION_INVALID_DATE,
            "欺诈行为起始日期应为不晚于今天的日期",
            fields={"fraud_from": ["日期无效"]},
        )
    return value


def _check_file(file: EvidenceFile) -> tuple[str, str]:
    if not file.content:
        raise DomainError(codes.EMPTY_FILE, "文件为空", fields={"file": ["文件为空"]})
    if len(file.content) > MAX_EVIDENCE_BYTES:
        raise DomainError(
            codes.FILE_TOO_LARGE, "文件不得超过 10 MB", fields={"file": ["文件不得超过 10 MB"]}
        )
    return checked_upload(
        file.content,
        filename=file.name,
        declared_type=file.content_type,
        code=codes.BAD_FILE_TYPE,
    )


def lock_eligibility_for_officer(actor: User, eligibility_id: int) -> Eligibility:
    """The eligibility, if an officer of its region may see it (else NotFound), locked."""
    require_role(actor, Role.AGENCY_OFFICER)
    selectors.eligibility_get(actor, eligibility_id)
    return (
        Eligibility.objects.select_for_update(of=("self",))
        .select_related("patient", "drug", "hospital", "filing")
        .get(pk=eligibility_id)
    )


def eligibility_revoke(
    *, actor: User, eligibility_id: int, revocation: Revocation, today: date | None = None
) -> Eligibility:
    """Revoke for fraud [HB art. 12]: benefits end at once (``REVOKED`` gives none), the filing
    is ended, the evidence kept, the patient told. Joins the caller's transaction; locks the
    eligibility (the caller has locked nothing below it in ``core.locks`` order)."""
    today = day_or_today(today)
    with transaction.atomic():
        eligibility = lock_eligibility_for_officer(actor, eligibility_id)
        ELIGIBILITY_MACHINE.check(eligibility.status, E.REVOKED)
        fraud_from = revocation.fraud_from or eligibility.effective_from
        note = ""
        if eligibility.status != E.STOPPED:  # a stopped one's filing is ended already
            _, note = cancel_filing(actor, eligibility, revocation.reason)
        changes = {
            "revocation_kind": revocation.kind,
            "revocation_reason": revocation.reason,
            "revocation_evidence": revocation.evidence,
            "fraud_from": fraud_from,
            "revoked_at": timezone.now(),
            "revoked_by": actor,
        }
        if note:
            changes["filing_note"] = note[:200]
        if revocation.file is not None:
            _store(eligibility, revocation.file)
            changes["revocation_file_sha256"] = eligibility.revocation_file_sha256
            changes["revocation_file"] = eligibility.revocation_file.name
        transition(
            eligibility,
            E.REVOKED,
            actor=actor,
            reason=revocation.reason,
            changes=changes,
            kind=revocation.kind,
            fraud_from=fraud_from.isoformat(),
            evidence_file=bool(revocation.file),
        )
        notify(
            template="eligibility.stopped",
            context={
                "drug_name": eligibility.drug.generic_name,
                "stopped_on": today,
                "reason": f"经办机构认定{RevocationKind(revocation.kind).label}，取消用药资格",
            },
            person=eligibility.patient,
            actor=actor,
        )
    return eligibility


def _store(eligibility: Eligibility, file: EvidenceFile) -> None:
    """Save the evidence under a name that carries no uploaded name (it may hold personal data)."""
    _, extension = _check_file(file)
    digest = hashlib.sha256(file.content).hexdigest()
    eligibility.revocation_file_sha256 = digest
    eligibility.revocation_file.save(
        f"revocation-{eligibility.pk}-{digest[:16]}.{extension}",
        ContentFile(file.content),
        save=False,
    )
