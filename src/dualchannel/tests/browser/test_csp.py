"""The Content Security Policy in a real browser: the main pages (login, the two-factor step, the
agency console with its htmx search, the doctor's workbench, the counter, the public query) run
with no refusal, and a refusal would be seen."""

from __future__ import annotations

import re

import pytest

from dualchannel.catalog.tests.factories import DrugFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_main_pages_run_under_the_csp_without_a_refusal(
    page, live_server, login, agency_user, physician_user, pharmacist_user
):
    DrugFactory(generic_name="洛拉替尼片", category_code="XL01ED")

    response = page.goto(f"{live_server.url}/accounts/login/", timeout=60_000)  # a cold server
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.goto(f"{live_server.url}/query/")

    login(page, agency_user)  # through the two-factor page
    page.wait_for_url(re.compile(r"/agency/$"))  # the officer's work queue
    page.click("nav >> text=药品目录")
    page.fill("input[name=q]", "lltn")  # htmx at work
    page.wait_for_selector("text=洛拉替尼片")

    page.context.clear_cookies()
    login(page, physician_user)
    page.goto(f"{live_server.url}/doctor/")
    page.context.clear_cookies()
    login(page, pharmacist_user)
    page.goto(f"{live_server.url}/pharmacy/counter/")
    page.wait_for_load_state("networkidle")

    assert page.csp_violations == []


def test_an_inline_script_would_be_refused_and_seen(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")

    page.evaluate(
        """() => {
        const s = document.createElement('script');
        s.textContent = 'window.__inlineRan = true';
        document.body.appendChild(s);
    }"""
    )
    page.wait_for_timeout(200)

    assert page.evaluate("window.__inlineRan") is None
    assert len(page.csp_violations) == 1
    page.csp_violations.clear()  # seen on purpose; the fixture checks the rest


def test_the_api_docs_page_runs_under_the_csp(page, live_server, settings):
    settings.API_DOCS_PUBLIC = True  # as in the demo

    page.goto(f"{live_server.url}/api/v1/docs")
    # Swagger UI draws the operations once openapi.json (large) has arrived.
    page.wait_for_selector(".swagger-ui .opblock", timeout=120_000)

    assert page.csp_violations == []
