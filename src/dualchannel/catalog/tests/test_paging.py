"""The catalogue page is paged, with no cut-off, and flags a confidential standard not entered
as a task (issue 12, point 5)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.catalog.models import Drug
from dualchannel.catalog.tests.factories import DrugFactory, PaymentStandardFactory

pytestmark = pytest.mark.django_db


def test_every_drug_is_reachable_page_by_page(nrdl2025, officer_client):
    total = Drug.objects.count()

    first = officer_client.get(reverse("agency-catalog")).content.decode()
    second = officer_client.get(
        reverse("agency-catalog"), {"page": "2"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    last = officer_client.get(reverse("agency-catalog"), {"page": "999"}).content.decode()

    assert total > 100 and "显示前" not in first
    assert f"共 {total} 个药品，第 1 /" in first and "下一页" in first
    assert "第 2 /" in second and "上一页" in second and "<html" not in second
    pages = -(-total // 50)
    assert f"第 {pages} / {pages} 页" in last and "下一页" not in last.split('id="pages"')[1]


def test_a_search_keeps_its_words_in_the_page_links(officer_client):
    for n in range(60):
        DrugFactory(generic_name=f"演示替尼片{n:02d}")

    page = officer_client.get(reverse("agency-catalog"), {"q": "演示替尼"}).content.decode()

    assert "共 60 个药品" in page
    assert "q=%E6%BC%94%E7%A4%BA%E6%9B%BF%E5%B0%BC&amp;page=2" in page


def test_a_confidential_standard_not_entered_is_flagged_and_filtered(officer_client):
    waiting = DrugFactory(generic_name="保密甲片")
    PaymentStandardFactory(drug=waiting, confidential=True)
    entered = DrugFactory(generic_name="保密乙片")
    PaymentStandardFactory(drug=entered, confidential=True, amount="12.00")
    DrugFactory(generic_name="公开丙片")

    page = officer_client.get(reverse("agency-catalog"), {"missing_standard": "1"})

    html = page.content.decode()
    assert "保密甲片" in html and "待录入保密支付标准" in html
    assert "保密乙片" not in html and "公开丙片" not in html
    assert "共 1 个药品" in html
