"""HttpTransport against the simulator served over real HTTP (pytest-django live_server)."""

from __future__ import annotations

import json

import httpx
import pytest
from django.test import override_settings

from dualchannel.integration.models import PlatformCall
from dualchannel.integration.nhsa import (
    HttpTransport,
    OAuth2ClientCredentials,
    Operator,
    PlatformClient,
    PlatformError,
    TifHeaderAuth,
)
from dualchannel.integration.nhsa.transport import default_transport
from dualchannel.simulators.models import SimAppCredential
from dualchannel.simulators.platform import simulator_fail_next

OPERATOR = Operator("R001", "审核员")


def _query(person):
    return {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": person.id_number}}


def test_plain_http_per_infno(live_server, connected_hospital, filed_person):
    transport = HttpTransport(f"{live_server.url}/simulators/nhsa", timeout=10)
    client = PlatformClient(connected_hospital, OPERATOR, transport=transport)

    output = client.call("1101", _query(filed_person))

    assert output["baseinfo"]["psn_no"] == filed_person.person_no
    assert PlatformCall.objects.filter(infcode="0").count() == 2  # 9001 + 1101


def test_single_endpoint_and_settings_choose_http(live_server, connected_hospital, filed_person):
    with override_settings(
        NHSA_PLATFORM_URL=f"{live_server.url}/simulators/nhsa/",
        NHSA_TRANSPORT="simulator",
        NHSA_SINGLE_ENDPOINT=True,
    ):
        transport = default_transport()
        client = PlatformClient(connected_hospital, OPERATOR)
        output = client.call("1101", _query(filed_person))

    assert isinstance(transport, HttpTransport) and not transport.per_infno
    assert output["baseinfo"]["psn_no"] == filed_person.person_no


def test_oauth2_bearer(live_server, connected_hospital, filed_person):
    SimAppCredential.objects.create(app_id="app-1", secret="s3cret")
    auth = OAuth2ClientCredentials(
        f"{live_server.url}/simulators/nhsa/oauth/token", "app-1", "s3cret"
    )
    transport = HttpTransport(f"{live_server.url}/simulators/nhsa", auth=auth)
    client = PlatformClient(connected_hospital, OPERATOR, transport=transport)

    output = client.call("1101", _query(filed_person))

    assert output["baseinfo"]["psn_no"] == filed_person.person_no


def test_tif_headers_and_missing_auth_is_refused(live_server, connected_hospital, filed_person):
    SimAppCredential.objects.create(app_id="paas-1", secret="k3y")
    good = HttpTransport(f"{live_server.url}/simulators/nhsa", auth=TifHeaderAuth("paas-1", "k3y"))
    bad = HttpTransport(f"{live_server.url}/simulators/nhsa", auth=TifHeaderAuth("paas-1", "no"))

    output = PlatformClient(connected_hospital, OPERATOR, transport=good).call(
        "1101", _query(filed_person)
    )
    with pytest.raises(PlatformError) as exc:
        PlatformClient(connected_hospital, Operator("R002", "x"), transport=bad).sign_in()

    assert output["baseinfo"]["psn_no"] == filed_person.person_no
    assert exc.value.infcode == "" and exc.value.retryable and "401" in exc.value.err_msg


def test_simulated_timeout_over_http_is_retryable(live_server, connected_hospital, filed_person):
    transport = HttpTransport(f"{live_server.url}/simulators/nhsa")
    client = PlatformClient(connected_hospital, OPERATOR, transport=transport)
    client.sign_no()
    simulator_fail_next(1, mode="timeout")

    with pytest.raises(PlatformError) as exc:
        client.call("1101", _query(filed_person))
    output = client.call("1101", _query(filed_person))

    assert exc.value.retryable and "504" in exc.value.err_msg
    assert output["baseinfo"]["psn_no"] == filed_person.person_no


def test_unreachable_platform_is_a_retryable_error(connected_hospital):
    transport = HttpTransport("http://127.0.0.1:9/nhsa", timeout=2)
    client = PlatformClient(connected_hospital, OPERATOR, transport=transport)

    with pytest.raises(PlatformError) as exc:
        client.sign_in()

    assert exc.value.retryable and exc.value.infcode == ""
    assert PlatformCall.objects.get().infcode == ""


def test_simulator_view_refuses_get_and_bad_json(client, connected_hospital):
    assert client.get("/simulators/nhsa/").status_code == 405
    response = client.post("/simulators/nhsa/", "{not json", content_type="application/json")
    assert response.status_code == 200 and response.json()["infcode"] == "-1"


def test_httpx_mock_transport_body_is_the_envelope(connected_hospital):
    seen = {}

    def platform(request: httpx.Request) -> httpx.Response:

        seen.update(json.loads(request.content))
        return httpx.Response(
            200,
            json={"infcode": "0", "output": {"signinoutb": {"sign_no": "S" * 30}}},
        )

    transport = HttpTransport(
        "https://hsa.example.test/api",
        client=httpx.Client(transport=httpx.MockTransport(platform)),
    )
    client = PlatformClient(connected_hospital, OPERATOR, transport=transport)

    assert client.sign_in() == "S" * 30
    assert seen["infno"] == "9001" and seen["infver"] == "V1.0" and seen["opter"] == "R001"
