"""``application_submit`` asks the hospital system (HTTP, 15 s timeout) before it locks the
application, never while holding the lock; a change made meanwhile is caught under the lock."""

from __future__ import annotations

import pytest

from dualchannel.core import locks
from dualchannel.core.errors import Conflict
from dualchannel.eligibility import services, workflow
from dualchannel.eligibility.models import ApplicationStatus
from dualchannel.integration.his import DemoHis
from dualchannel.registry.models import InsuredPerson


class WatchedHis(DemoHis):
    """The demo HIS, recording whether each call came inside a transaction (holding locks)."""

    def __init__(self, during_reports=None):
        super().__init__()
        self.calls: list[tuple[str, bool]] = []
        self.during_reports = during_reports

    def find_patient(self, id_number):
        self.calls.append(("find_patient", locks.in_transaction()))
        return super().find_patient(id_number)

    def patient_context(self, *args, **kwargs):
        self.calls.append(("patient_context", locks.in_transaction()))
        return super().patient_context(*args, **kwargs)

    def reports(self, *args, **kwargs):
        self.calls.append(("reports", locks.in_transaction()))
        if self.during_reports:
            self.during_reports()
        return super().reports(*args, **kwargs)


def test_submit_asks_the_his_outside_any_transaction(
    make_draft, zhang, physician_user, monkeypatch
):
    # given a draft ready to submit and a HIS that notes where it is called from
    application = make_draft(zhang)
    his = WatchedHis()
    monkeypatch.setattr(workflow, "get_his_adapter", lambda hospital=None: his)

    # when the physician submits
    services.application_submit(actor=physician_user, application_id=application.pk)

    # then the HIS was asked (patient, context, reports), each time outside any transaction
    assert [name for name, _ in his.calls] == ["find_patient", "patient_context", "reports"]
    assert [inside for _, inside in his.calls] == [False, False, False]
    application.refresh_from_db()
    assert application.status != ApplicationStatus.DRAFT
    assert application.materials.filter(source="his").exists()


def test_a_change_while_the_his_answers_is_caught_under_the_lock(
    make_draft, zhang, physician_user, monkeypatch
):
    # given a draft, and the person's insurance type corrected while the HIS is answering
    application = make_draft(zhang)
    other = "390" if zhang.insurance_type == "310" else "310"
    his = WatchedHis(
        during_reports=lambda: InsuredPerson.objects.filter(pk=zhang.pk).update(
            insurance_type=other
        )
    )
    monkeypatch.setattr(workflow, "get_his_adapter", lambda hospital=None: his)

    # when the physician submits
    with pytest.raises(Conflict) as refused:
        services.application_submit(actor=physician_user, application_id=application.pk)

    # then the fetched answers no longer fit: refused, and the draft is untouched
    assert refused.value.code == "eligibility.his_changed"
    application.refresh_from_db()
    assert application.status == ApplicationStatus.DRAFT
    assert application.application_form_id is None
    assert not application.materials.exists()
