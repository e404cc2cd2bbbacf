"""The paper's first-time case in a real browser: the physician answers the checklist and types
only the plan's numbers; the reviewer approves with one click and types nothing."""

from __future__ import annotations

import re

import pytest

from dualchannel.eligibility import services
from dualchannel.eligibility.models import Application, ApplicationStatus
from dualchannel.eligibility.tests.factories import (
    designated_physician,
    drug_with_criteria,
    zhang_wei,
)
from dualchannel.registry.tests.factories import designate, load_seed_profiles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def eligibility_settings(settings, tmp_path, demo_his):
    settings.MEDIA_ROOT = tmp_path / "private"
    settings.PUBLIC_BASE_URL = "https://dc.example.cn"


@pytest.fixture
def draft(physician_user, pharmacy):
    """A draft for 张伟 (ALK-positive lung cancer, all in the demo HIS), nothing answered yet."""
    load_seed_profiles()
    designated_physician(physician_user)
    designate(pharmacy)
    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")
    person = zhang_wei()
    return services.application_create(
        actor=physician_user,
        patient_id_number=person.id_number,
        drug_id=drug.pk,
        diagnosis_code="C34.100x004",
        diagnosis_name="右肺上叶恶性肿瘤",
        pharmacy_id=pharmacy.pk,
    )


def test_physician_answers_and_submits_then_reviewer_approves_with_one_click(
    page, live_server, login, draft, physician_user, reviewer_user
):
    typed = {"physician": 0, "reviewer": 0}

    # the physician opens the draft: the data-decided criteria are already answered from HIS
    login(page, physician_user)
    assert page.url.endswith("/doctor/")
    page.goto(f"{live_server.url}/doctor/applications/{draft.pk}/")
    row = page.locator("tr[data-code=advanced]")
    assert row.get_attribute("data-outcome") == "unknown"
    assert page.locator("tr[data-code=nsclc]").get_attribute("data-outcome") == "met"
    assert "C34.100x004 右肺上叶恶性肿瘤" in page.locator("tr[data-code=nsclc]").inner_text()
    assert page.locator("#submit-application").is_disabled()

    # toggling the attestation re-renders the checklist without reloading the page
    page.evaluate("window.__sameDocument = true")
    page.click("tr[data-code=advanced] button:has-text('是')")
    page.wait_for_selector("tr[data-code=advanced][data-outcome=met]")
    assert page.evaluate("window.__sameDocument") is True
    assert "符合" in page.locator("tr[data-code=advanced]").inner_text()

    # only the plan's numbers are typed: the period is pre-filled, the rest are selections
    for name, value in (("dose_value", "250"), ("total_quantity", "180")):
        page.fill(f"input[name={name}]", value)
        typed["physician"] += 1
    page.click("#plan-form button[type=submit]")
    page.wait_for_selector("text=治疗用药方案已保存")
    assert page.evaluate("window.__sameDocument") is True
    submit = page.locator("#submit-application")
    assert submit.is_enabled()
    submit.click()
    page.wait_for_selector("#status:has-text('审核中')")

    # the reviewer logs in, lands on the queue, opens the case and approves with one click
    page.context.clear_cookies()
    login(page, reviewer_user)
    assert page.url.endswith("/review/")
    page.click(f"text={Application.objects.get(pk=draft.pk).application_no}")
    # loaded, not merely parsed: 通过 is an htmx form and htmx runs deferred
    page.wait_for_url(re.compile(rf"/review/applications/{draft.pk}/$"))
    page.wait_for_load_state("load")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#approve")
    page.wait_for_url(re.compile(rf"/review/applications/{draft.pk}/$"))
    page.wait_for_selector("#status:has-text('已通过')")

    draft.refresh_from_db()
    assert draft.status == ApplicationStatus.APPROVED
    assert typed == {"physician": 2, "reviewer": 0}
