"""What the settlement tests share besides fixtures (those are in ``conftest.py``): an officer's
colleague, and a manual claim submitted."""

from __future__ import annotations

import io

from django.utils import timezone
from pypdf import PdfReader

from dualchannel.core.models import User
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import PDF
from dualchannel.settlement.models import ClaimReason
from dualchannel.settlement.services import claims


def colleague(officer):
    """Another officer of the same agency: the one who decides a claim entered by ``officer``."""
    found = User.objects.filter(username=f"{officer.username}_colleague").first()
    return found or UserFactory(
        username=f"{officer.username}_colleague",
        institution=officer.institution,
        roles=[Role.AGENCY_OFFICER],
    )


def submit(actor, person, institution, lines, **overrides):
    values = {
        "actor": actor,
        "person_id_number": person.id_number,
        "institution_id": institution.pk,
        "reason": ClaimReason.SYSTEM_FAILURE,
        "category": "special_drug",
        "purchased_on": timezone.localdate(),
        "lines": lines,
        "receipts": [("发票 张伟.pdf", PDF)],
    }
    return claims.claim_submit(**(values | overrides))


def text_of(pdf: bytes) -> str:
    """The text of every page, without the line breaks and spaces the layout adds."""
    reader = PdfReader(io.BytesIO(pdf))
    return "".join("".join(page.extract_text().split()) for page in reader.pages)
