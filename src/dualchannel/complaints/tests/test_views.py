"""Complaint pages and API: the public form and lookup, the officers' queue; masking, bad input."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.urls import reverse

from dualchannel.complaints.models import Complaint, ComplaintStatus
from dualchannel.complaints.throttle import CACHE, LIMIT
from dualchannel.core.models import AuditEvent
from dualchannel.registry.tests.factories import region

from .factories import submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    caches[CACHE].clear()
    yield
    caches[CACHE].clear()


def form(**overrides):
    return {
        "category": "overpriced",
        "text": "药店售价高于医保支付标准。",
        "contact_phone": "13912345678",
        **overrides,
    }


def test_the_public_form_registers_and_shows_the_tracking_number_masked(client, pharmacy):
    response = client.post(reverse("complaint-new"), form(institution=pharmacy.pk))

    complaint = Complaint.objects.get()
    text = response.content.decode()
    assert response.status_code == 200
    assert complaint.tracking_no in text
    assert "139****5678" in text and "13912345678" not in text
    assert complaint.institution == pharmacy


def test_the_form_without_contact_is_refused_with_a_message_and_nothing_written(client, pharmacy):
    response = client.post(
        reverse("complaint-new"), form(institution=pharmacy.pk, contact_phone="")
    )

    assert response.status_code == 400
    assert 'data-code="complaints.contact_required"' in response.content.decode()
    assert "联系电话或电子邮箱" in response.content.decode()
    assert not Complaint.objects.exists()


def test_public_posts_are_rate_limited(client, pharmacy):
    for _ in range(LIMIT):
        assert (
            client.post(reverse("complaint-new"), form(institution=pharmacy.pk)).status_code == 200
        )

    response = client.post(reverse("complaint-new"), form(institution=pharmacy.pk))

    assert response.status_code == 429
    assert Complaint.objects.count() == LIMIT


def test_lookup_shows_status_and_reply_only(client, hospital, agency_user):
    complaint = submit(institution_id=hospital.pk, text="内部细节不应公开")
    client.force_login(agency_user)
    client.post(reverse("agency-complaint-act", args=[complaint.pk, "accept"]))
    client.post(
        reverse("agency-complaint-act", args=[complaint.pk, "reply"]), {"reply": "已督促整改"}
    )
    client.logout()

    found = client.get(
        reverse("complaint-track"), {"no": complaint.tracking_no, "contact": "13812345678"}
    )
    wrong = client.get(
        reverse("complaint-track"), {"no": complaint.tracking_no, "contact": "13800000000"}
    )

    assert "已督促整改" in found.content.decode() and "已答复" in found.content.decode()
    assert "内部细节不应公开" not in found.content.decode()
    assert wrong.status_code == 404 and "已督促整改" not in wrong.content.decode()


def test_the_officers_queue_masks_contacts_and_flags_overdue(client, hospital, agency_user):
    late = submit(institution_id=hospital.pk)
    Complaint.objects.filter(pk=late.pk).update(due_on="2020-01-02")
    client.force_login(agency_user)

    text = client.get(reverse("agency-complaints")).content.decode()

    assert late.tracking_no in text and "逾期" in text
    assert "138****5678" in text and "13812345678" not in text


def test_the_agency_home_counts_waiting_complaints(client, hospital, agency_user):
    submit(institution_id=hospital.pk)
    submit(institution_id=hospital.pk)
    client.force_login(agency_user)

    response = client.get(reverse("agency-home"))

    row = next(r for r in response.context["rows"] if r.key == "complaints")
    assert row.count == 2
    assert reverse("agency-complaints") in response.content.decode()


def test_an_officer_of_another_province_cannot_open_or_act(client, hospital, outsider_agency):
    complaint = submit(institution_id=hospital.pk)
    client.force_login(outsider_agency)

    detail = client.get(reverse("agency-complaint", args=[complaint.pk]))
    act = client.post(reverse("agency-complaint-act", args=[complaint.pk, "accept"]))

    assert detail.status_code == 404 and act.status_code == 404
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.RECEIVED


def test_api_submit_and_lookup(api_client, pharmacy):
    created = api_client.post_json(
        "/api/v1/public/complaints",
        {
            "category": "refused",
            "text": "拒绝配药",
            "contact_email": "a@example.com",
            "institution_id": pharmacy.pk,
        },
    )
    number = created.json()["tracking_no"]
    found = api_client.get(f"/api/v1/public/complaints/{number}", {"contact": "a@example.com"})

    assert created.status_code == 201
    assert found.json()["status"] == "received" and found.json()["public_reply"] == ""
    assert set(found.json()) == {"tracking_no", "due_on", "status", "status_label", "public_reply"}


def test_api_refuses_no_contact_with_code_and_chinese_message(api_client, pharmacy):
    response = api_client.post_json(
        "/api/v1/public/complaints",
        {"category": "refused", "text": "拒绝配药", "institution_id": pharmacy.pk},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "complaints.contact_required"
    assert "联系" in response.json()["error"]["message"]
    assert not Complaint.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="complaints.").exists()


def test_api_list_with_a_region_outside_scope_is_refused(api_client, agency_user, other_agency):
    response = api_client.as_user(agency_user).get(
        "/api/v1/complaints/", {"region": other_agency.region_id}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "complaints.region_out_of_scope"


def test_a_refused_form_keeps_the_chosen_place_and_names_the_institution(client, pharmacy):
    region("420102")
    response = client.post(
        reverse("complaint-new"),
        form(contact_phone="", province="420000", city="420100", county="420102"),
    )
    chosen = client.get(reverse("complaint-new"), {"institution": pharmacy.pk})

    text = response.content.decode()
    assert response.status_code == 400
    assert '<option value="420100" selected>' in text
    assert '<option value="420102" selected>' in text
    assert "被投诉机构：江岸演示大药房" in chosen.content.decode()
    assert not Complaint.objects.exists()
