"""The simulators exist only in demo mode and tests: a production start has no trace of them.

The production and demo cases start Django in a fresh process with the environment of that
deployment (settings are read from the environment once, at start), and report what the URL
conf, the app registry and the transports do there.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.core import checks
from django.test import override_settings

import dualchannel
from dualchannel.integration.in_process import NoAnswer, in_process_handler
from dualchannel.simulators import platform, rxcentre
from dualchannel.simulators.checks import simulators_in_production

SIMULATOR_PATHS = [
    "/simulators/nhsa/",
    "/simulators/nhsa/1101",
    "/simulators/nhsa/9001",
    "/simulators/nhsa/2503",
    "/simulators/nhsa/oauth/token",
    "/simulators/rxcentre/uploadChk",
    "/simulators/rxcentre/rxSetlStockQuery",
]
# WeChat's web authorisation is GET (the browser, then the server's code exchange).
WECHAT_PATHS = [
    "/simulators/wechat/connect/oauth2/authorize",
    "/simulators/wechat/sns/oauth2/access_token",
]

# A 1101 person lookup as anyone could send it: before the fix it answered name, ID and birth.
LOOKUP = {
    "infno": "1101",
    "fixmedins_code": "H42010200001",
    "input": {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "420102198001010011"}},
}

PROBE = """
import json, sys
import django
django.setup()
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import Resolver404, resolve

paths, body = json.loads(sys.argv[1]), sys.argv[2]
client = Client()
out = {"installed": apps.is_installed("dualchannel.simulators"),
       "enabled": settings.SIMULATORS_ENABLED, "resolves": {}, "get": {}, "post": {}}
for path in paths:
    try:
        resolve(path)
        out["resolves"][path] = True
    except Resolver404:
        out["resolves"][path] = False
    out["get"][path] = client.get(path, secure=True).status_code
    if not out["resolves"][path]:  # a POST to a live simulator would need a migrated database
        out["post"][path] = client.post(
            path, body, content_type="application/json", secure=True
        ).status_code

import dualchannel.integration.services.filing, dualchannel.integration.nhsa  # noqa: E401
import dualchannel.integration.rxcentre
import dualchannel.prescriptions.services.circulation
from dualchannel.integration.nhsa.transport import default_transport as nhsa_transport
from dualchannel.integration.rxcentre.transport import default_transport as rx_transport
for name, make in (("nhsa", nhsa_transport), ("rxcentre", rx_transport)):
    try:
        out[name] = type(make()).__name__
    except ImproperlyConfigured as exc:
        out[name] = "ImproperlyConfigured: " + str(exc)
out["wechat_oauth"] = [settings.WECHAT_OAUTH_AUTHORIZE_URL, settings.WECHAT_OAUTH_API_BASE]
out["simulators_imported"] = [m for m in sys.modules if m.startswith("dualchannel.simulators")]
print(json.dumps(out))
"""


def _start(tmp_path: Path, **env: str) -> dict:
    """Start Django in a new process with a deployment's environment and probe it."""
    base = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DEBUG",
            "DEMO_MODE",
            "DUALCHANNEL_TESTING",
            "SIMULATORS_ENABLED",
            "PUBLIC_BASE_URL",
        }
        and not key.startswith(("NHSA_", "RX_CENTRE_", "WECHAT_"))
    }
    base.update(
        DJANGO_SETTINGS_MODULE="dualchannel.config.settings",
        PYTHONPATH=str(Path(dualchannel.__file__).resolve().parents[1]),
        SECRET_KEY="production-like-secret-key-for-this-test-only-0123456789",
        AUDIT_HMAC_KEYS="k1:" + "ab" * 32,
        ALLOWED_HOSTS="testserver",
        DATABASE_URL=f"sqlite:///{tmp_path / 'never-opened.sqlite3'}",
        DUALCHANNEL_VAR_DIR=str(tmp_path),
        LOG_LEVEL="ERROR",
    )
    base.update(env)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            json.dumps(SIMULATOR_PATHS + WECHAT_PATHS),
            json.dumps(LOOKUP),
        ],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_production_start_has_no_simulator_paths_app_or_transport(tmp_path):
    started = _start(tmp_path)

    assert not started["enabled"] and not started["installed"]
    assert not any(started["resolves"].values())
    assert set(started["get"].values()) == {404}
    assert set(started["post"].values()) == {404}
    # Without a platform address there is no silent in-process platform either.
    assert started["nhsa"].startswith("ImproperlyConfigured: NHSA_PLATFORM_URL is not set")
    assert started["rxcentre"].startswith("ImproperlyConfigured: RX_CENTRE_URL is not set")
    assert started["simulators_imported"] == []
    # Real WeChat unless configured otherwise.
    assert started["wechat_oauth"] == [
        "https://open.weixin.qq.com/connect/oauth2/authorize",
        "https://api.weixin.qq.com",
    ]


def test_demo_mode_installs_and_routes_the_simulators(tmp_path):
    started = _start(tmp_path, DEMO_MODE="1")

    assert started["enabled"] and started["installed"]
    assert all(started["resolves"].values())
    assert {started["get"][path] for path in SIMULATOR_PATHS} == {405}  # there, and POST only
    # WeChat's pages are GET: the authorize page refuses a request without its parameters,
    # the code exchange answers in WeChat's JSON (an unknown appid).
    assert [started["get"][path] for path in WECHAT_PATHS] == [400, 200]
    assert started["wechat_oauth"] == [
        "http://127.0.0.1:8000/simulators/wechat/connect/oauth2/authorize",
        "http://127.0.0.1:8000/simulators/wechat",
    ]
    assert started["nhsa"] == "SimulatorTransport" and started["rxcentre"] == "SimulatorTransport"


def test_tests_have_the_simulators(client):
    assert apps.is_installed("dualchannel.simulators")
    assert client.get("/simulators/nhsa/1101").status_code == 405
    assert client.get("/simulators/rxcentre/uploadChk").status_code == 405
    answer = client.get("/simulators/wechat/sns/oauth2/access_token", {"appid": "wx0"})
    assert answer.json()["errcode"] == 40013


def test_the_simulators_answer_the_in_process_transports():
    # integration (a floor below) does not import the simulators: they register at start-up

    assert in_process_handler("nhsa") is platform.handle
    assert in_process_handler("rxcentre") is rxcentre.handle
    assert issubclass(platform.SimulatedTimeout, NoAnswer)  # the transports' "no answer"


PRODUCTION = {"DEBUG": False, "DEMO_MODE": False, "DUALCHANNEL_TESTING": False}


def test_simulators_in_production_are_a_deploy_check_warning():
    with override_settings(**PRODUCTION):
        found = [m for m in checks.run_checks(include_deployment_checks=True) if m.id]
        direct = simulators_in_production()

    assert [m.id for m in direct] == ["simulators.W001"]
    assert "simulators.W001" in {m.id for m in found}
    assert direct[0].level == checks.WARNING and "1101" in direct[0].msg


@pytest.mark.parametrize("mode", ["DEBUG", "DEMO_MODE", "DUALCHANNEL_TESTING"])
def test_no_warning_where_the_simulators_belong(mode):
    with override_settings(**{**PRODUCTION, mode: True}):
        assert simulators_in_production() == []


def test_a_production_start_with_the_simulators_logs_a_loud_warning(caplog):
    with override_settings(**PRODUCTION), caplog.at_level(logging.WARNING):
        apps.get_app_config("simulators").ready()

    warned = [r for r in caplog.records if r.name == "dualchannel.simulators"]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert "SECURITY" in warned[0].getMessage() and "/simulators/nhsa/" in warned[0].getMessage()
