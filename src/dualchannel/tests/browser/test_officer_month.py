"""The agency officer's month played in a real browser on the demo data, through the pages only
(issue 12, points 5 and 9): the work queue, a batch drilled into and approved, a manual claim
entered by one officer and decided by another, an alert confirmed, a physician accepted, a drug
found on the catalogue's second page, a finding recorded with its recovery order."""

from __future__ import annotations

import pytest

from dualchannel.core.tests.files import PDF
from dualchannel.tests.browser.conftest import sqlite_pass_only

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), sqlite_pass_only]


def test_the_officer_runs_the_month_from_the_pages(page, demo_login, live_server):
    demo_login(page, "officer")

    # 1. the home page is the work queue
    assert page.url.endswith("/agency/")
    assert page.locator("#queue-batches").get_attribute("data-count") == "1"
    assert page.locator("#queue-alerts").get_attribute("data-count") == "1"
    assert page.locator("#queue-physicians").get_attribute("data-count") == "1"
