"""The simulated platform's e-voucher (医保电子凭证): issued bound to a person for a few minutes,
resolved on 1101 with mdtrt_cert_type 01 and the token as mdtrt_cert_no."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dualchannel.integration.nhsa.client import PlatformClient
from dualchannel.integration.nhsa.errors import PlatformError
from dualchannel.registry.tests.factories import InsuredPersonFactory
from dualchannel.simulators.models import SimVoucher
from dualchannel.simulators.platform import VOUCHER_MINUTES, simulator_voucher_issue


@pytest.fixture
def client(pharmacy, pharmacist_user):
    pharmacy.platform_code = "P42010200001"
    pharmacy.save(update_fields=["platform_code"])
    return PlatformClient(pharmacy, pharmacist_user)


def ask(client: PlatformClient, token: str) -> dict:
    query = {"mdtrt_cert_type": "01", "mdtrt_cert_no": token, "card_sn": "", "begntime": ""}
    return client.call("1101", {"data": query})


def test_a_voucher_is_issued_for_a_few_minutes_and_resolves_to_its_holder(client):
    person = InsuredPersonFactory(name="张三")
    before = timezone.now()

    issued = simulator_voucher_issue(person.id_number)
    output = ask(client, issued.token)

    assert issued.token.startswith("EC") and len(issued.token) == 34
    assert issued.token != simulator_voucher_issue(person.id_number).token  # fresh each time
    assert issued.expires_at - before >= timedelta(minutes=VOUCHER_MINUTES)
    assert issued.expires_at - before < timedelta(minutes=VOUCHER_MINUTES, seconds=30)
    assert output["baseinfo"]["certno"] == person.id_number
    assert output["baseinfo"]["psn_no"] == person.person_no
    assert output["baseinfo"]["psn_name"] == "张三"


def test_an_expired_or_unknown_voucher_is_refused(client):
    person = InsuredPersonFactory(name="张三")
    expired = simulator_voucher_issue(person.id_number)
    SimVoucher.objects.filter(pk=expired.pk).update(expires_at=timezone.now())

    with pytest.raises(PlatformError) as old:
        ask(client, expired.token)
    with pytest.raises(PlatformError) as unknown:
        ask(client, "EC" + "0" * 32)
    with pytest.raises(PlatformError) as raw_id:
        ask(client, person.id_number)  # an ID number is not a voucher

    assert old.value.infcode == "-1" and "过期" in old.value.err_msg
    assert "未查询到该电子凭证" in unknown.value.err_msg
    assert "未查询到该电子凭证" in raw_id.value.err_msg


def test_the_command_issues_a_voucher_for_a_patient_account(patient_user):
    person = InsuredPersonFactory(name="张三")
    patient_user.insured_person = person
    patient_user.save(update_fields=["insured_person"])
    out, err = io.StringIO(), io.StringIO()

    call_command("nhsa_simulator_voucher", "--user", patient_user.username, stdout=out, stderr=err)

    token = out.getvalue().strip()
    assert SimVoucher.objects.get(token=token).id_number == person.id_number
    assert person.id_number not in out.getvalue() + err.getvalue()
    with pytest.raises(CommandError):
        call_command("nhsa_simulator_voucher", "--user", "nobody", stdout=out, stderr=err)


def test_the_patient_shows_a_fresh_voucher_qr_that_the_counter_resolves(
    client, patient_user, pharmacy, pharmacist_user
):
    person = InsuredPersonFactory(name="张三")
    patient_user.insured_person = person
    patient_user.save(update_fields=["insured_person"])
    browser = Client()
    browser.force_login(patient_user)

    home = browser.get(reverse("portal-home"))
    first = browser.get(reverse("simulators-patient-voucher"))
    second = browser.get(reverse("simulators-patient-voucher"))

    assert reverse("simulators-patient-voucher") in home.content.decode()
    html = first.content.decode()
    assert first.status_code == 200
    assert "我的医保电子凭证" in html and "data:image/svg+xml" in html
    assert person.id_number not in html  # masked on screen
    token = first.context["token"]
    assert token != second.context["token"]  # refreshed on each visit
    # the code shown is what the pharmacy's terminal resolves to the patient (1101, 01)
    assert ask(client, token)["baseinfo"]["certno"] == person.id_number


def test_only_a_patient_sees_a_voucher(pharmacist_user):
    browser = Client()
    browser.force_login(pharmacist_user)

    response = browser.get(reverse("simulators-patient-voucher"))

    assert response.status_code in (302, 403)
    assert not SimVoucher.objects.exists()
