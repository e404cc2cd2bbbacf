"""The patient's pages on the phone (issue 12, point 6): the portal's own layout everywhere, the
eligibility's dates and next step, messages that link to what they are about, a resend
countdown, no promise of a prescription before one exists, and the region's own citations."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import transaction
from django.urls import reverse

from dualchannel.eligibility import services as eligibility_services
from dualchannel.eligibility.tests.factories import (
    PLAN,
    designated_physician,
    drug_with_criteria,
    zhang_wei,
)
from dualchannel.notifications.links import notification_url
from dualchannel.notifications.models import Notification
from dualchannel.notifications.services import notify
from dualchannel.prescriptions.tests.helpers import special
from dualchannel.registry.tests.factories import designate, load_seed_profiles

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(settings, tmp_path, demo_his, physician_user, reviewer_user, pharmacy, patient_user):
    """张伟 (Wuhan), approved on 2026-03-04, bound to the portal's patient user."""
    settings.MEDIA_ROOT = tmp_path / "private"
    load_seed_profiles()
    designated_physician(physician_user)
    designate(pharmacy)
    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")
    person = zhang_wei()
    application = eligibility_services.application_create(
        actor=physician_user,
        patient_id_number=person.id_number,
        drug_id=drug.pk,
        diagnosis_code="C34.100x004",
        diagnosis_name="右肺上叶恶性肿瘤",
        pharmacy_id=pharmacy.pk,
    )
    eligibility_services.application_answer(
        actor=physician_user, application_id=application.pk, answers={"advanced": True}
    )
    eligibility_services.application_set_plan(
        actor=physician_user, application_id=application.pk, **PLAN
    )
    eligibility_services.application_submit(
        actor=physician_user, application_id=application.pk, today=date(2026, 3, 2)
    )
    eligibility = eligibility_services.application_approve(
        actor=reviewer_user, application_id=application.pk, today=date(2026, 3, 4)
    )
    patient_user.insured_person = person
    patient_user.save(update_fields=["insured_person"])
    return eligibility


def test_an_approval_without_a_prescription_promises_none(client, patient_user, approved):
    client.force_login(patient_user)

    page = client.get(reverse("portal-home")).content.decode()

    assert 'class="badge badge-ok">已通过' in page
    assert "可持处方" not in page
    assert "由责任医师开具处方" in page
    due = approved.next_reevaluation_due
    assert f"有效期至</dt><dd>{due.year}年{due.month}月{due.day}日" in page
    assert "查看处方" not in page


def test_with_a_prescription_the_next_step_links_to_it(
    client, patient_user, physician_user, approved
):
    prescription = special(physician_user, approved)
    client.force_login(patient_user)

    page = client.get(reverse("portal-home")).content.decode()
    detail = client.get(
        reverse("portal-application", args=[approved.application_id])
    ).content.decode()

    link = reverse("portal-prescription", args=[prescription.pk])
    assert "处方已开具" in page and link in page
    assert link in detail and "badge-ok" in detail


def test_the_consent_cites_the_patients_own_region(client, patient_user, physician_user, approved):
    prescription = special(physician_user, approved)
    client.force_login(patient_user)

    page = client.get(reverse("portal-prescription", args=[prescription.pk])).content.decode()

    assert "鄂医保发〔2023〕35号 第四十二条" in page
    assert "楚雄" not in page and "楚医保" not in page and "皖医保" not in page


def test_messages_are_in_the_portal_layout_and_link_to_what_they_are_about(
    client, patient_user, approved
):
    client.force_login(patient_user)
    approval = Notification.objects.filter(
        person=approved.patient, template_code="eligibility.approved", channel="in_app"
    ).get()

    response = client.get(reverse("portal-messages"))
    page = response.content.decode()

    assert "双通道患者服务" in page and "双通道管理平台" not in page
    assert "公众查询" not in page  # none of the staff platform's links
    assert approval.title in page
    assert reverse("portal-application", args=[approved.application_id]) in page
    # the staff inbox's one list markup, marking read through the portal's own page
    assert "notifications/_list.html" in [t.name for t in response.templates]
    assert f'action="{reverse("portal-message-read", args=[approval.pk])}"' in page
    assert "hx-post" not in page.split(f'id="notification-{approval.pk}"')[1].split("</article>")[0]


def test_a_wechat_message_deep_links_to_the_page_it_is_about(patient_user, approved, settings):
    approval = Notification.objects.filter(
        person=approved.patient, template_code="eligibility.approved", channel="in_app"
    ).get()
    elsewhere = Notification(person=approved.patient, template_code="generic", context={})

    assert notification_url(approval) == (
        f"{settings.PUBLIC_BASE_URL}/portal/applications/{approved.application_id}/"
    )
    assert notification_url(elsewhere) == f"{settings.PUBLIC_BASE_URL}/portal/messages/"


def test_a_message_is_marked_read_and_anothers_is_not_found(
    client, patient_user, approved, insured_person
):
    client.force_login(patient_user)
    # 张三 as read now: the fixture's object still remembers the account rebound to 张伟
    other = type(insured_person).objects.get(pk=insured_person.pk)
    with transaction.atomic():
        [theirs] = notify(
            template="generic",
            context={"title": "别人的消息", "body": "内容"},
            person=other,
            channels=["in_app"],
        )
    mine = Notification.objects.filter(person=approved.patient, channel="in_app").first()

    response = client.post(reverse("portal-message-read", args=[mine.pk]))
    refused = client.post(reverse("portal-message-read", args=[theirs.pk]))

    assert response.status_code == 302 and response.url == reverse("portal-messages")
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.read_at is not None
    assert refused.status_code == 404 and theirs.read_at is None
    assert "别人的消息" not in client.get(reverse("portal-messages")).content.decode()


def test_the_login_code_button_counts_down_from_a_static_script(client, sms, fixed_code):
    page = client.get(reverse("portal-login")).content.decode()
    sent = client.post(
        reverse("portal-login-code"), {"phone": "13900000001"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    again = client.post(
        reverse("portal-login-code"), {"phone": "13900000001"}, HTTP_HX_REQUEST="true"
    )

    assert 'src="/static/portal/login.js"' in page
    assert "<script>" not in page and "onclick" not in page  # CSP: no inline script
    assert 'data-resend-after="60"' in sent and "60秒后可重新发送" in sent
    refused = again.content.decode()  # too soon: refused, and the countdown starts again
    assert "60秒后再试" in refused and 'data-resend-after="60"' in refused
