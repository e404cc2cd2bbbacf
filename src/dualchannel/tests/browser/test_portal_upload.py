"""On a phone, the patient opens an application waiting for materials and uploads one."""

from __future__ import annotations

import re

import pytest

from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.portal.hashing import phone_hash
from dualchannel.portal.models import PatientAccount
from dualchannel.portal.tests.factories import PDF, application_maker
from dualchannel.registry.tests.factories import InsuredPersonFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = "13900000002"


@pytest.fixture
def phone(browser):
    """An iPhone-sized screen (375×812)."""
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_patient_uploads_a_missing_material_from_the_phone(
    phone, live_server, settings, tmp_path, physician_user, pharmacy, demo_his
):
    # given a bound patient whose application waits for three materials
    settings.DEMO_MODE = True
    settings.SMS_PROVIDER = "log"
    settings.MEDIA_ROOT = tmp_path / "private"
    person = InsuredPersonFactory(name="张三", phone=PHONE)
    patient = UserFactory(username="phone_patient", insured_person=person, roles=[Role.PATIENT])
    PatientAccount.objects.create(user=patient, phone_hash=phone_hash(PHONE))
    application = application_maker(physician_user, pharmacy)(person)
    page = phone

    # when the patient logs in with the code (shown on the page in demo mode)
    page.goto(f"{live_server.url}/portal/login/")
    page.fill("input[name=phone]", PHONE)
    page.click("#send-code")
    demo = page.locator(".demo-code strong")
    demo.wait_for()
    page.fill("input[name=code]", demo.inner_text())
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/$"))

    # and opens the application from the home page
    page.click(f"#applications a[href$='/portal/applications/{application.pk}/'] >> nth=0")
    page.wait_for_url(re.compile(rf"/portal/applications/{application.pk}/$"))
    assert _fits_the_screen(page)

    # then every missing kind is listed, each with its own upload
    requested = page.locator("#requested-materials")
    for label in ("病理诊断报告", "基因检测报告", "诊断证明"):
        assert label in requested.inner_text()
    assert page.locator("#requested-materials form").count() == 3

    # when a small PDF is uploaded for the pathology report
    form = page.locator("#kind-pathology form")
    form.locator("input[type=file]").first.set_input_files(
        {"name": "病理报告.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/portal/applications/{application.pk}/$"))

    # then it is listed as waiting for the reviewer, and two kinds remain
    assert "已上传「病理诊断报告」" in page.locator("#messages").inner_text()
    material = page.locator("#materials article", has_text="病理诊断报告")
    assert "待核验" in material.inner_text()
    assert "病理报告.pdf" in material.inner_text()
    assert "已上传" in page.locator("#kind-pathology").inner_text()
    assert page.locator("#requested-materials form").count() == 2
    assert _fits_the_screen(page)
