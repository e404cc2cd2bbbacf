"""The complaint form's per-address limit: counted in the shared (database) cache that every
worker reads, by the client's address behind the trusted proxies (settings.TRUSTED_PROXY_COUNT)."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.test import RequestFactory
from django.urls import reverse

from dualchannel.complaints.models import Complaint
from dualchannel.complaints.throttle import CACHE, LIMIT
from dualchannel.core.client_address import client_address

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    caches[CACHE].clear()
    yield
    caches[CACHE].clear()


def _form(pharmacy):
    return {
        "category": "overpriced",
        "text": "药店售价高于医保支付标准。",
        "contact_phone": "13912345678",
        "institution": pharmacy.pk,
    }


def _post(client, pharmacy, **meta):
    return client.post(reverse("complaint-new"), _form(pharmacy), **meta)


def test_the_count_is_in_the_database_where_another_worker_reads_it(client, pharmacy, settings):
    for _ in range(2):
        assert _post(client, pharmacy, REMOTE_ADDR="203.0.113.7").status_code == 200

    # another worker: its own cache object over the same table, no memory shared
    worker = DatabaseCache(settings.CACHES[CACHE]["LOCATION"], {})
    assert worker.get("complaints:post:203.0.113.7") == 2
    caches["default"].clear()  # the per-process cache holds nothing of it
    assert caches[CACHE].get("complaints:post:203.0.113.7") == 2


def test_a_spoofed_forwarded_for_does_not_escape_the_limit_without_a_trusted_proxy(
    client, pharmacy, settings
):
    settings.TRUSTED_PROXY_COUNT = 0
    codes = [
        _post(
            client, pharmacy, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}"
        ).status_code
        for n in range(LIMIT + 1)
    ]

    assert codes == [200] * LIMIT + [429]
    assert Complaint.objects.count() == LIMIT


def test_behind_a_trusted_proxy_each_client_is_counted_on_its_own(client, pharmacy, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(LIMIT):
        _post(client, pharmacy, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy)

    refused = _post(client, pharmacy, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy)
    other = _post(client, pharmacy, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy)
    # the client's own claim left of what the proxy appended changes nothing
    spoofed = _post(client, pharmacy, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.1", **proxy)

    assert (refused.status_code, other.status_code, spoofed.status_code) == (429, 200, 429)
    assert 'data-code="complaints.rate_limited"' in refused.content.decode()
    assert "提交过于频繁" in refused.content.decode()
    assert Complaint.objects.count() == LIMIT + 1


def test_the_api_counts_the_same_posts(client, pharmacy, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for _ in range(LIMIT):
        _post(client, pharmacy, REMOTE_ADDR="203.0.113.9")

    response = client.post(
        "/api/v1/public/complaints",
        {"category": "overpriced", "text": "售价过高", "contact_phone": "13912345678"},
        content_type="application/json",
        REMOTE_ADDR="203.0.113.9",
    )

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "complaints.rate_limited"
    assert Complaint.objects.count() == LIMIT


@pytest.mark.parametrize(
    "count, forwarded, expected",
    [
        (0, "198.51.100.1", "10.0.0.2"),  # no trusted proxy: the header is ignored
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "1.2.3.4, 198.51.100.1", "198.51.100.1"),
        (2, "1.2.3.4, 198.51.100.1, 10.0.0.9", "198.51.100.1"),
        (2, "198.51.100.1", "10.0.0.2"),  # fewer entries than proxies: not through them all
        (1, "not-an-address", "10.0.0.2"),
        (1, "", "10.0.0.2"),
    ],
)
def test_client_address(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == expected
