"""The inbox: API and page show the caller's own in-app messages only."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from dualchannel.notifications.models import Channel, Notification
from dualchannel.notifications.services import notify
from dualchannel.registry.tests.factories import InsuredPersonFactory

pytestmark = pytest.mark.django_db


def _send(title, **recipient):
    with transaction.atomic():
        rows = notify(
            template="generic",
            context={"title": title, "body": f"{title}的正文"},
            channels=[Channel.IN_APP],
            **recipient,
        )
    return rows[0]


def test_inbox_lists_own_and_bound_person_rows_newest_first(api_client, patient_user):
    own = _send("给用户的", user=patient_user)
    # Sent to the person before they had an account (recipient left empty on purpose).
    before_account = Notification.objects.create(
        person=patient_user.insured_person,
        channel=Channel.IN_APP,
        template_code="generic",
        title="开户前的",
        body="开户前的正文",
        state="sent",
    )
    _send("别人的", person=InsuredPersonFactory())

    response = api_client.as_user(patient_user).get("/api/v1/notifications")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["id"] for i in items] == [before_account.pk, own.pk]
    assert items[0]["unread"] is True
    assert response.json()["count"] == 2


def test_inbox_excludes_sms_and_wechat_rows(api_client, patient_user):
    with transaction.atomic():
        notify(
            template="generic",
            context={"title": "t", "body": "b"},
            user=patient_user,
            channels=[Channel.IN_APP, Channel.SMS],
        )

    items = api_client.as_user(patient_user).get("/api/v1/notifications").json()["items"]

    assert len(items) == 1


def test_mark_read(api_client, patient_user):
    row = _send("提醒", user=patient_user)

    response = api_client.as_user(patient_user).post(f"/api/v1/notifications/{row.pk}/read")

    assert response.status_code == 200
    assert response.json()["unread"] is False
    row.refresh_from_db()
    assert row.read_at is not None


def test_another_users_notification_is_not_found(api_client, patient_user, reviewer_user):
    theirs = _send("审核员的", user=reviewer_user)

    response = api_client.as_user(patient_user).post(f"/api/v1/notifications/{theirs.pk}/read")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_inbox_needs_login(api_client):
    assert api_client.get("/api/v1/notifications").status_code == 401


def test_inbox_page_renders_for_staff(client, reviewer_user, password):
    _send("审核通过", user=reviewer_user)
    read = _send("已读消息", user=reviewer_user)
    client.force_login(reviewer_user)
    client.post(reverse("notification-read", args=[read.pk]))

    response = client.get(reverse("notification-inbox"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "我的消息" in html and "审核通过" in html and "已读消息" in html
    assert "1 条未读" in html
    assert 'hx-post="/notifications/' in html
    used = [t.name for t in response.templates]
    assert "notifications/_list.html" in used  # the one list markup, shared with the portal


def test_a_patient_reads_messages_in_the_portal(client, patient_user):
    client.force_login(patient_user)

    response = client.get(reverse("notification-inbox"))

    assert response.status_code == 302 and response.url == reverse("portal-messages")


def test_mark_read_button_returns_the_item_and_badge_for_htmx(client, patient_user):
    row = _send("提醒", user=patient_user)
    client.force_login(patient_user)

    response = client.post(reverse("notification-read", args=[row.pk]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="notification-{row.pk}"' in html and "标为已读" not in html
    assert 'hx-swap-oob="true"' in html and "全部已读" in html


def test_page_mark_read_of_another_users_row_changes_nothing(client, patient_user, reviewer_user):
    theirs = _send("审核员的", user=reviewer_user)
    client.force_login(patient_user)

    response = client.post(reverse("notification-read", args=[theirs.pk]))

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_inbox_page_needs_login(client):
    response = client.get(reverse("notification-inbox"))

    assert response.status_code == 302
