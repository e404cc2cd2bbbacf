"""The patient's own filing request through the API [HB art. 7(1)(3)]: the patient submits, lists
and withdraws; the hospital's responsible physicians list their queue, take, decline, complete.
Another person's or another hospital's request is a 404; bad input a code and nothing written."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dualchannel.core.models import AuditEvent
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import PDF, PNG
from dualchannel.eligibility.models import (
    Application,
    FilingRequestStatus,
    FilingUpload,
    PatientFilingRequest,
)
from dualchannel.notifications.models import Notification
from dualchannel.registry.tests.factories import InsuredPersonFactory

from .factories import drug_with_criteria

BASE = "/api/v1/eligibility/filing-requests"
F = FilingRequestStatus


@pytest.fixture
def zhang_user(zhang):
    return UserFactory(username="zhangwei", insured_person=zhang, roles=[Role.PATIENT])


def form(drug, hospital, **extra):
    data = {
        "drug_id": drug.pk,
        "hospital_id": hospital.pk,
        "note": "外院确诊，ALK阳性",
        "kinds": ["pathology", "gene_test"],
        "files": [
            SimpleUploadedFile("病理报告.pdf", PDF, "application/pdf"),
            SimpleUploadedFile("基因检测.png", PNG, "image/png"),
        ],
    }
    data.update(extra)
    return data


def written():
    return (
        PatientFilingRequest.objects.count(),
        FilingUpload.objects.count(),
        AuditEvent.objects.filter(action__startswith="eligibility.filing_request").count(),
        Notification.objects.count(),
    )


@pytest.fixture
def submitted(api_client, zhang_user, lung_drug, hospital, physician):
    answer = api_client.as_user(zhang_user).post(BASE, form(lung_drug, hospital))
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_the_patient_submits_lists_and_the_physician_takes_and_completes(
    api_client, submitted, zhang_user, physician_user, bound_pharmacy, lung_drug
):
    assert submitted["status"] == F.SUBMITTED and submitted["request_no"].startswith("HS")
    assert [u["kind"] for u in submitted["uploads"]] == ["pathology", "gene_test"]
    mine = api_client.as_user(zhang_user).get(f"{BASE}/mine").json()
    assert [r["id"] for r in mine] == [submitted["id"]]

    doctor = api_client.as_user(physician_user)
    queue = doctor.get(f"{BASE}/queue").json()
    assert [q["id"] for q in queue] == [submitted["id"]]
    assert queue[0]["patient_name"] == "张*" and "*" in queue[0]["patient_id_number"]
    taken = doctor.post_json(f"{BASE}/{submitted['id']}/take")
    assert taken.status_code == 200 and taken.json()["status"] == F.TAKEN
    assert taken.json()["taken_by"] == "李医生"
    done = doctor.post_json(
        f"{BASE}/{submitted['id']}/complete",
        {
            "diagnosis_code": "C34.100x004",
            "diagnosis_name": "右肺上叶恶性肿瘤",
            "pharmacy_id": bound_pharmacy.pk,
        },
    )

    assert done.status_code == 201, done.content
    application = Application.objects.get(pk=done.json()["application_id"])
    assert application.drug == lung_drug and application.materials.count() == 2
    assert done.json()["request"]["status"] == F.COMPLETED
    assert done.json()["request"]["application_no"] == application.application_no
    # the patient reads each step in their inbox
    assert set(
        Notification.objects.filter(person=zhang_user.insured_person).values_list(
            "template_code", flat=True
        )
    ) >= {
        "eligibility.filing_request_submitted",
        "eligibility.filing_request_taken",
        "eligibility.filing_request_completed",
    }


def test_the_physician_declines_with_a_reason_and_the_patient_withdraws_another(
    api_client, submitted, zhang_user, physician_user, hospital
):
    doctor = api_client.as_user(physician_user)
    no_reason = doctor.post_json(f"{BASE}/{submitted['id']}/decline", {"reason": " "})
    assert no_reason.status_code == 400
    assert no_reason.json()["error"]["code"] == "eligibility.filing_reason_required"

    declined = doctor.post_json(f"{BASE}/{submitted['id']}/decline", {"reason": "本院无该科室"})
    assert declined.status_code == 200 and declined.json()["decline_reason"] == "本院无该科室"

    patient = api_client.as_user(zhang_user)
    again = patient.post(BASE, form(PatientFilingRequest.objects.get().drug, hospital))
    assert again.status_code == 201
    withdrawn = patient.post_json(f"{BASE}/{again.json()['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == F.WITHDRAWN


@pytest.mark.parametrize(
    "case, status, code",
    [
        ("drug_not_negotiated", 400, "eligibility.filing_drug_not_listed"),
        ("hospital_not_designated", 400, "eligibility.filing_hospital_not_designated"),
        ("kinds_mismatch", 400, "eligibility.filing_kinds_mismatch"),
        ("unknown_kind", 400, "eligibility.unknown_material_kind"),
        ("not_a_number", 422, None),
    ],
)
def test_bad_submissions_are_refused_with_a_code_and_nothing_written(
    case, status, code, api_client, zhang_user, lung_drug, hospital, other_hospital, physician
):
    data = form(lung_drug, hospital)
    if case == "drug_not_negotiated":
        drug = drug_with_criteria(generic_name="未谈判药品")[0]
        drug.criteria_sets.update(status="draft")
        data["drug_id"] = drug.pk
    elif case == "hospital_not_designated":
        data["hospital_id"] = other_hospital.pk
    elif case == "kinds_mismatch":
        data["kinds"] = ["pathology"]
    elif case == "unknown_kind":
        data["kinds"] = ["pathology", "x-ray"]
    elif case == "not_a_number":
        data["drug_id"] = "药"
    before = written()

    answer = api_client.as_user(zhang_user).post(BASE, data)

    assert answer.status_code == status, answer.content
    if code:
        assert answer.json()["error"]["code"] == code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in answer.json()["error"]["message"])
    assert written() == before


def test_another_persons_request_is_not_found_and_untouched(api_client, submitted, hospital):
    other = UserFactory(
        username="lisi", insured_person=InsuredPersonFactory(), roles=[Role.PATIENT]
    )
    client = api_client.as_user(other)

    assert client.get(f"{BASE}/{submitted['id']}").status_code == 404
    assert client.post_json(f"{BASE}/{submitted['id']}/withdraw").status_code == 404
    assert client.get(f"{BASE}/mine").json() == []
    assert PatientFilingRequest.objects.get().status == F.SUBMITTED


def test_another_hospitals_physician_and_a_patient_cannot_act_as_the_hospital(
    api_client, submitted, outsider_physician, zhang_user
):
    outsider = api_client.as_user(outsider_physician)
    assert outsider.get(f"{BASE}/queue").json() == []
    assert outsider.post_json(f"{BASE}/{submitted['id']}/take").status_code == 404
    assert outsider.get(f"{BASE}/{submitted['id']}").status_code == 404

    patient = api_client.as_user(zhang_user)
    refused = patient.post_json(f"{BASE}/{submitted['id']}/take")
    assert refused.status_code == 403
    assert patient.get(f"{BASE}/queue").status_code == 403
    assert PatientFilingRequest.objects.get().status == F.SUBMITTED


def test_staff_cannot_submit_and_an_unbound_patient_is_told_to_bind(
    api_client, physician_user, lung_drug, hospital, physician
):
    staff = api_client.as_user(physician_user).post(BASE, form(lung_drug, hospital))
    assert staff.status_code == 403
    unbound = UserFactory(username="nobody", roles=[Role.PATIENT])
    answer = api_client.as_user(unbound).post(BASE, form(lung_drug, hospital))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "eligibility.filing_not_bound"
    assert PatientFilingRequest.objects.count() == 0


def test_the_patient_reads_the_drugs_and_hospitals_to_choose_from(
    api_client, zhang_user, lung_drug, hospital, other_hospital, physician
):
    options = api_client.as_user(zhang_user).get(f"{BASE}/options").json()

    assert {"id": lung_drug.pk, "name": lung_drug.generic_name} in options["drugs"]
    assert [h["id"] for h in options["hospitals"]] == [hospital.pk]


# Every operation on a request, as the access matrix would call it.
OPERATIONS = [
    ("GET", "/{id}", None),
    ("POST", "/{id}/withdraw", None),
    ("POST", "/{id}/take", None),
    ("POST", "/{id}/decline", {"reason": "不受理"}),
    ("POST", "/{id}/complete", {"diagnosis_code": "C34.100x004", "diagnosis_name": "肺癌"}),
]


@pytest.mark.parametrize(
    "actor",
    [
        "reviewer_user",
        "pharmacist_user",
        "agency_user",
        "patient_user",
        "outsider_physician",
        "outsider_reviewer",
        "outsider_pharmacist",
        "outsider_agency",
    ],
)
def test_no_other_role_or_outsider_reads_or_moves_a_request(request, actor, api_client, submitted):
    client = api_client.as_user(request.getfixturevalue(actor))
    before = (written(), PatientFilingRequest.objects.get().status)

    answers = [
        client.get(f"{BASE}{tail.format(id=submitted['id'])}")
        if method == "GET"
        else client.post_json(f"{BASE}{tail.format(id=submitted['id'])}", body)
        for method, tail, body in OPERATIONS
    ]
    queue = client.get(f"{BASE}/queue")
    mine = client.get(f"{BASE}/mine")

    assert [a.status_code for a in answers if a.status_code not in (403, 404)] == []
    assert all(set(a.json()) == {"error"} for a in answers)
    assert queue.status_code == 403 or queue.json() == []
    assert mine.status_code == 403 or mine.json() == []
    assert (written(), PatientFilingRequest.objects.get().status) == before
