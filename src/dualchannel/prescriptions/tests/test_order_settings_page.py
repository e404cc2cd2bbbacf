"""The pharmacy's 网订设置 page: the delivery area is chosen by name (province → city → county)
and shown by name, never as region codes [CX art. 22]."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from dualchannel.prescriptions.models import PharmacyDeliverySettings
from dualchannel.registry.tests.factories import region

URL = reverse("prescriptions-pharmacy-order-settings")
CODE = re.compile(r">[^<]*\b\d{6}\b[^<]*<")  # a six-digit code in text anyone reads


@pytest.fixture
def regions(db):
    return [region(code) for code in ("420102", "420106", "420115", "340102")]


def post(client, pharmacy, **data):
    form = {
        "pharmacy_id": pharmacy.pk,
        "opens_at": "08:00",
        "closes_at": "20:00",
        "delivers": "1",
        "fee": "8",
        "province": "420000",
    }
    form.update(data)
    return client.post(URL, form)


def visible_text(html: str) -> str:
    """The page without its tags' attributes (option values are codes the reader never sees)."""
    return re.sub(r"<[^>]*>", "<>", html)


def test_the_page_offers_the_pharmacys_province_and_its_cities_by_name(
    client, pharmacist_user, pharmacy, regions
):
    client.force_login(pharmacist_user)

    html = client.get(URL).content.decode()

    assert 'option value="420000" selected' in html and "湖北省" in html
    assert '<option value="420100">武汉市</option>' in html
    assert "尚未设置配送范围" in html
    assert not CODE.search(visible_text(html))


def test_a_county_and_a_whole_city_are_added_by_name_and_saved(
    client, pharmacist_user, pharmacy, regions
):
    client.force_login(pharmacist_user)

    # 加入 keeps the choice on the page without saving it
    added = post(client, pharmacy, city="420100", county="420106", add="1")
    assert added.status_code == 200
    html = added.content.decode()
    assert 'name="area" value="420106" checked' in html and "湖北省 武汉市 武昌区" in html
    assert "已加入" in html and not PharmacyDeliverySettings.objects.exists()

    # 保存 with the one kept and a second county picked: both are the area
    saved = post(client, pharmacy, area=["420106"], city="420100", county="420102")
    assert saved.status_code == 302
    terms = PharmacyDeliverySettings.objects.get(pharmacy=pharmacy)
    assert sorted(terms.area.values_list("code", flat=True)) == ["420102", "420106"]
    assert terms.fee == Decimal("8.00")

    html = client.get(URL).content.decode()
    assert "湖北省 武汉市 江岸区" in html and "湖北省 武汉市 武昌区" in html
    assert not CODE.search(visible_text(html))


def test_unticking_removes_and_a_city_without_county_is_the_whole_city(
    client, pharmacist_user, pharmacy, regions
):
    client.force_login(pharmacist_user)
    post(client, pharmacy, city="420100", county="420102")

    post(client, pharmacy, city="420100", county="")  # the whole of 武汉市, 江岸区 unticked

    terms = PharmacyDeliverySettings.objects.get(pharmacy=pharmacy)
    assert list(terms.area.values_list("code", flat=True)) == ["420100"]
    assert "湖北省 武汉市" in client.get(URL).content.decode()


def test_a_province_alone_is_not_an_area_and_delivery_needs_one(
    client, pharmacist_user, pharmacy, regions
):
    client.force_login(pharmacist_user)

    refused = post(client, pharmacy, city="", county="")

    assert refused.status_code == 400
    assert "请选择配送范围" in refused.content.decode()
    assert not PharmacyDeliverySettings.objects.exists()
