"""Full personal identifiers on request only (PIPL: the minimum the task needs).

Lists and pages show ID numbers and phones masked (``core.masking``). Where a task needs the full
number — the reviewer comparing it with the signed form or a material, the pharmacist's real-name
check, an agency officer's registry lookup — the user asks for it explicitly (a button, an API
call), and every such view is one audit event ``person.id_number_viewed``: who, which case, which
patient, which fields, never the number itself.
"""

from __future__ import annotations

from django.db import models, transaction

from . import audit
from .models import User
from .permissions import actor_role

ID_NUMBER_VIEWED = "person.id_number_viewed"
VIA_PAGE, VIA_API = "page", "api"


def record_view(
    *,
    actor: User,
    person: models.Model,
    subject: models.Model,
    via: str,
    fields: tuple[str, ...] = ("id_number",),
) -> None:
    """One audit event for one view of ``person``'s full identifiers, in its own transaction.

    The caller has already checked that ``actor`` may see them for ``subject`` (the case).
    """
    with transaction.atomic():
        audit.record(
            actor=actor,
            action=ID_NUMBER_VIEWED,
            subject=subject,
            patient=person,
            role=actor_role(actor),
            summary={"fields": list(fields), "via": via},
        )


def reveal_id_number(*, actor: User, person: models.Model, subject: models.Model, via: str) -> str:
    """The person's full ID number, the view recorded."""
    record_view(actor=actor, person=person, subject=subject, via=via)
    return person.id_number
