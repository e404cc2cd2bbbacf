"""Applications as a patient meets them in the portal: submitted by their physician and, for a
person the hospital's system does not know, waiting for the materials it could not pull."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from dualchannel.core.tests.files import JPEG, PDF  # noqa: F401  (used by the page tests)
from dualchannel.eligibility import services
from dualchannel.eligibility.models import Application
from dualchannel.eligibility.tests.factories import PLAN, designated_physician, drug_with_criteria
from dualchannel.registry.tests.factories import designate, load_seed_profiles

SUBMITTED_ON = date(2026, 3, 2)


def application_maker(physician_user, pharmacy) -> Callable[..., Application]:
    """A function making an application for a person, submitted unless ``submit=False``.

    Persons unknown to the demo HIS end up waiting for every required material
    (pathology, gene test, diagnosis certificate) [HB art. 7(2)].
    """
    load_seed_profiles()
    designated_physician(physician_user)
    designate(pharmacy)
    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")

    def make(person, *, submit: bool = True) -> Application:
        application = services.application_create(
            actor=physician_user,
            patient_id_number=person.id_number,
            drug_id=drug.pk,
            diagnosis_code="C34.100x004",
            diagnosis_name="右肺上叶恶性肿瘤",
            pharmacy_id=pharmacy.pk,
        )
        services.application_answer(
            actor=physician_user, application_id=application.pk, answers={"advanced": True}
        )
        services.application_set_plan(actor=physician_user, application_id=application.pk, **PLAN)
        if submit:
            services.application_submit(
                actor=physician_user, application_id=application.pk, today=SUBMITTED_ON
            )
        application.refresh_from_db()
        return application

    return make
