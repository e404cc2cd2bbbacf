"""notify(): rows per channel and delivery jobs in the business transaction; masked text."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import transaction

from dualchannel.core.errors import DomainError
from dualchannel.core.models import Job
from dualchannel.core.tests.factories import UserFactory
from dualchannel.notifications.models import Channel, Notification, NotificationState
from dualchannel.notifications.services import notify
from dualchannel.notifications.templates import TEMPLATES, mask_personal
from dualchannel.registry.tests.factories import InsuredPersonFactory

pytestmark = pytest.mark.django_db

APPROVED = {
    "drug_name": "甲磺酸奥希替尼片",
    "application_no": "SQ20260302001",
    "effective_date": date(2026, 3, 2),
    "next_step": "请持处方到定点药店购药",
}


def _notify(**kw):
    with transaction.atomic():
        return notify(**kw)


def test_outbox_rolls_back_with_the_business_transaction(patient_user):
    with pytest.raises(RuntimeError, match="business"), transaction.atomic():
        notify(template="eligibility.approved", context=APPROVED, user=patient_user)
        raise RuntimeError("business failed")

    assert Notification.objects.count() == 0
    assert Job.objects.count() == 0


def test_patient_with_phone_gets_in_app_and_sms(patient_user, settings):
    settings.WECHAT_ENABLED = True  # no openid: no WeChat row

    rows = _notify(template="eligibility.approved", context=APPROVED, user=patient_user)

    by_channel = {n.channel: n for n in rows}
    assert set(by_channel) == {Channel.IN_APP, Channel.SMS}
    in_app, sms = by_channel[Channel.IN_APP], by_channel[Channel.SMS]
    assert in_app.state == NotificationState.SENT and in_app.sent_at is not None
    assert sms.state == NotificationState.PENDING
    assert in_app.person == patient_user.insured_person  # a patient's rows name the person too
    assert in_app.title == "用药资格审核通过"
    assert "2026年3月2日" in in_app.body and "请持处方到定点药店购药" in in_app.body
    [job] = Job.objects.all()
    assert job.kind == "notifications.deliver"
    assert job.payload == {"notification_id": sms.pk}  # ids only


def test_wechat_row_when_user_has_openid_and_wechat_is_enabled(patient_user, settings):
    settings.WECHAT_ENABLED = True
    patient_user.wechat_openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    patient_user.save()

    rows = _notify(template="eligibility.approved", context=APPROVED, user=patient_user)

    assert {n.channel for n in rows} == {Channel.IN_APP, Channel.SMS, Channel.WECHAT}
    assert Job.objects.count() == 2


def test_wechat_disabled_means_no_wechat_row(patient_user, settings):
    settings.WECHAT_ENABLED = False
    patient_user.wechat_openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    patient_user.save()

    rows = _notify(template="eligibility.approved", context=APPROVED, user=patient_user)

    assert Channel.WECHAT not in {n.channel for n in rows}


def test_person_without_account_gets_sms_and_an_inbox_row_for_later():
    person = InsuredPersonFactory(phone="13912345678")

    rows = _notify(template="eligibility.approved", context=APPROVED, person=person)

    assert {n.channel for n in rows} == {Channel.IN_APP, Channel.SMS}
    assert all(n.recipient is None and n.person == person for n in rows)


def test_staff_user_gets_in_app_only(reviewer_user):
    rows = _notify(
        template="generic",
        context={"title": "新申请", "body": "有新申请待审核"},
        user=reviewer_user,
    )

    assert [n.channel for n in rows] == [Channel.IN_APP]
    assert Job.objects.count() == 0


def test_explicit_channel_that_cannot_reach_the_person_is_skipped(reviewer_user):
    rows = _notify(
        template="generic",
        context={"title": "提醒", "body": "请处理"},
        user=reviewer_user,
        channels=[Channel.SMS],
    )

    assert [(n.channel, n.state) for n in rows] == [(Channel.SMS, NotificationState.SKIPPED)]
    assert Job.objects.count() == 0


def test_unknown_template_is_refused_at_notify_time(patient_user):
    with pytest.raises(DomainError) as err:
        _notify(template="eligibility.nonexistent", context={}, user=patient_user)

    assert err.value.code == "notifications.unknown_template"
    assert Notification.objects.count() == 0


def test_missing_placeholder_is_refused_at_notify_time(patient_user):
    context = {k: v for k, v in APPROVED.items() if k != "next_step"}

    with pytest.raises(DomainError) as err:
        _notify(template="eligibility.approved", context=context, user=patient_user)

    assert err.value.code == "notifications.missing_placeholder"
    assert "next_step" in err.value.fields
    assert Notification.objects.count() == 0 and Job.objects.count() == 0


def test_no_recipient_is_refused():
    with pytest.raises(DomainError):
        _notify(template="eligibility.approved", context=APPROVED)


def test_materials_requested_lists_every_missing_material_once(patient_user):
    """HB art. 7(2): what is missing is told once, completely."""
    context = {
        "drug_name": "甲磺酸奥希替尼片",
        "application_no": "SQ1",
        "materials": ["病理报告", "基因检测报告（EGFR）", "病理报告", "出院小结"],
        "deadline": date(2026, 3, 20),
        "hospital_name": "武汉演示第一医院",
    }

    [in_app, *_] = _notify(
        template="eligibility.materials_requested", context=context, user=patient_user
    )

    assert "1. 病理报告；2. 基因检测报告（EGFR）；3. 出院小结" in in_app.body
    assert in_app.body.count("病理报告") == 1


def test_materials_requested_needs_a_non_empty_list(patient_user):
    context = {
        "drug_name": "药",
        "application_no": "SQ1",
        "materials": [],
        "deadline": date(2026, 3, 20),
        "hospital_name": "医院",
    }

    with pytest.raises(DomainError):
        _notify(template="eligibility.materials_requested", context=context, user=patient_user)


def test_rendered_text_masks_id_and_phone_numbers(patient_user):
    id_number = patient_user.insured_person.id_number
    context = {
        "title": f"关于{id_number}的通知",
        "body": f"身份证{id_number}，电话13812345678，已受理",
    }

    rows = _notify(template="generic", context=context, user=patient_user)

    for n in rows:
        text = n.title + n.body + str(n.context)
        assert id_number not in text
        assert "13812345678" not in text
        assert f"{id_number[:6]}********{id_number[-4:]}" in n.body
        assert "138****5678" in n.body


def test_mask_personal_leaves_ordinary_numbers_alone():
    assert mask_personal("处方号RX2026030200001，数量 30") == "处方号RX2026030200001，数量 30"


def test_every_workflow_template_is_registered():
    assert {
        "eligibility.application_submitted",
        "eligibility.materials_requested",
        "eligibility.under_review",
        "eligibility.approved",
        "eligibility.rejected",
        "eligibility.reevaluation_window_open",
        "eligibility.suspended",
        "prescriptions.routed",
        "generic",
    } <= set(TEMPLATES)
    for template in TEMPLATES.values():
        fields = set(template.wechat_fields.values()) | set(template.sms_params)
        assert fields <= template.placeholders, template.code


def test_notify_attaches_the_bound_user_when_given_a_person(patient_user):
    rows = _notify(
        template="eligibility.approved", context=APPROVED, person=patient_user.insured_person
    )

    assert {n.recipient for n in rows} == {patient_user}


def test_other_users_do_not_receive_it(patient_user):
    other = UserFactory()

    _notify(template="eligibility.approved", context=APPROVED, user=patient_user)

    assert not Notification.objects.filter(recipient=other).exists()
