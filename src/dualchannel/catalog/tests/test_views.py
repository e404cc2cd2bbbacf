"""Agency console pages: search, detail, criteria editing; officers only."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from dualchannel.catalog.models import CriteriaStatus, Criterion, Drug
from dualchannel.catalog.tests.factories import (
    DrugFactory,
    PaymentStandardFactory,
    RestrictionFactory,
    lung_cancer_set,
)
from dualchannel.core.models import AuditEvent
from dualchannel.registry.tests.factories import region


def test_officer_searches_the_catalogue_live(nrdl2025, officer_client):
    page = officer_client.get(reverse("agency-catalog"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "药品目录" in html and 'hx-get="/agency/catalog/"' in html and "XL01 抗肿瘤药" in html

    partial = officer_client.get(reverse("agency-catalog"), {"q": "lltn"}, HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert "洛拉替尼片" in body and "<html" not in body
    first_link = re.search(r'<a href="/agency/catalog/\d+/">([^<]+)</a>', body)
    assert first_link.group(1) == "洛拉替尼片"

    by_category = officer_client.get(reverse("agency-catalog"), {"category": "XL01ED"})
    assert "盐酸阿来替尼胶囊" in by_category.content.decode()


def test_officer_sees_detail_with_history_and_criteria(nrdl2025, officer_client):
    drug = Drug.objects.get(generic_name="洛拉替尼片")

    page = officer_client.get(reverse("agency-drug", args=[drug.id]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "限间变性淋巴瘤激酶(ALK)阳性" in html
    assert "保密" in html and "未录入" in html
    assert "已发布" in html and "genes[&quot;ALK&quot;] == &quot;positive&quot;" in html
    assert "复查评估周期：90 天" in html
    assert "基因检测报告" in html


def test_admin_enters_the_confidential_amount_and_it_is_labelled(db, client, admin_user):
    standard = PaymentStandardFactory(confidential=True, amount=None)
    RestrictionFactory(drug=standard.drug)
    client.force_login(admin_user)
    response = client.post(
        reverse("agency-standard-amount", args=[standard.id]),
        {"amount": "2718.28"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "保密" in html and "2718.28元" in html
    assert AuditEvent.objects.filter(action="catalog.confidential_amount_set").count() == 1


def test_officer_edits_a_regional_checklist_and_publishes_it(db, officer_client):
    draft = lung_cancer_set(region=region("420100"))
    url = reverse("agency-criterion-add", args=[draft.id])

    added = officer_client.post(
        url,
        {"code": "adult", "kind": "condition", "text": "成人", "expression": "patient.age >= 18"},
        HTTP_HX_REQUEST="true",
    )
    assert added.status_code == 200 and "已新增条目 adult" in added.content.decode()

    refused = officer_client.post(
        url,
        {"code": "bad", "kind": "condition", "text": "x", "expression": "age >= 18"},
        HTTP_HX_REQUEST="true",
    )
    assert "未知变量：age" in refused.content.decode()
    assert refused.headers["HX-Retarget"] == "#messages"
    assert not Criterion.objects.filter(code="bad").exists()

    item = draft.items.get(code="adult")
    officer_client.post(
        reverse("agency-criterion-move", args=[item.id, "up"]), HTTP_HX_REQUEST="true"
    )
    item.refresh_from_db()
    assert item.position == 4

    published = officer_client.post(
        reverse("agency-criteria-publish", args=[draft.id]), HTTP_HX_REQUEST="true"
    )
    assert "已发布" in published.content.decode()
    draft.refresh_from_db()
    assert draft.status == CriteriaStatus.PUBLISHED


def test_officer_sees_national_data_read_only_and_cannot_post_it(db, officer_client):
    standard = PaymentStandardFactory(confidential=True, amount=None)
    drug = standard.drug

    page = officer_client.get(reverse("agency-drug", args=[drug.id])).content.decode()
    refused = officer_client.post(
        reverse("agency-drug-flags", args=[drug.id]),
        {"is_injectable": "1", "special_control": ""},
        HTTP_HX_REQUEST="true",
    )

    assert reverse("agency-drug-flags", args=[drug.id]) not in page
    assert reverse("agency-standard-amount", args=[standard.id]) not in page
    assert "国家目录数据仅目录管理员" in refused.content.decode()
    drug.refresh_from_db()
    assert not drug.is_injectable


def test_admin_edits_flags_on_the_page(db, client, admin_user):
    drug = DrugFactory(is_separately_paid=False, is_dual_channel=True)
    client.force_login(admin_user)

    client.post(
        reverse("agency-drug-flags", args=[drug.id]),
        {"is_dual_channel": "1", "is_separately_paid": "1", "special_control": ""},
        HTTP_HX_REQUEST="true",
    )

    drug.refresh_from_db()
    assert drug.is_separately_paid and drug.is_dual_channel and not drug.is_anti_cancer


def test_anonymous_visitors_are_sent_to_login(db, client):
    drug = DrugFactory()
    for url in (reverse("agency-catalog"), reverse("agency-drug", args=[drug.id])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("user_fixture", ["physician_user", "pharmacist_user", "patient_user"])
def test_non_officers_are_refused(request, client, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    draft = lung_cancer_set()

    assert client.get(reverse("agency-catalog")).status_code == 403
    assert client.get(reverse("agency-drug", args=[draft.drug_id])).status_code == 403
    response = client.post(
        reverse("agency-criteria-publish", args=[draft.id]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.status == CriteriaStatus.DRAFT


def test_unknown_drug_page_is_404(db, officer_client):
    assert officer_client.get(reverse("agency-drug", args=[999999])).status_code == 404


def test_admin_lists_and_searches_catalogue_rows(db, client, admin_user):
    draft = lung_cancer_set()
    PaymentStandardFactory(drug=draft.drug)
    client.force_login(admin_user)

    for url in (
        "/admin/catalog/drug/?q=" + draft.drug.pinyin_initials,
        f"/admin/catalog/drug/{draft.drug_id}/change/",
        f"/admin/catalog/criteriaset/{draft.id}/change/",
        "/admin/catalog/paymentstandard/",
        "/admin/catalog/listedition/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    assert (
        draft.drug.generic_name
        in client.get("/admin/catalog/drug/?q=" + draft.drug.pinyin_initials).content.decode()
    )


def test_officer_page_labels_the_national_baseline_and_the_set_in_force(db, officer_client):
    national = lung_cancer_set(status=CriteriaStatus.PUBLISHED)
    url = reverse("agency-drug", args=[national.drug_id])

    html = officer_client.get(url).content.decode()
    assert "全国基线" in html and "武汉市 适用" in html and "沿用全国基线" in html
    assert "新建武汉市认定条件草稿" in html

    created = officer_client.post(
        reverse("agency-criteria-new", args=[national.drug_id]), HTTP_HX_REQUEST="true"
    )
    draft = national.drug.criteria_sets.get(status=CriteriaStatus.DRAFT)
    assert draft.region_id == "420100"
    body = created.content.decode()
    assert f"已新建草稿 v{draft.version}" in body
    assert reverse("agency-criterion-add", args=[draft.id]) in body
    assert "新建武汉市认定条件草稿" not in body

    officer_client.post(reverse("agency-criteria-publish", args=[draft.id]), HTTP_HX_REQUEST="true")

    html = officer_client.get(url).content.decode()
    assert f"v{draft.version}（武汉市发布）" in html
    national.refresh_from_db()
    assert national.status == CriteriaStatus.PUBLISHED


def test_outsider_sees_no_wuhan_draft_and_changes_nothing_on_pages(db, client, outsider_agency):
    national_draft = lung_cancer_set(note="全国基线草稿")
    wuhan = lung_cancer_set(drug=national_draft.drug, region=region("420100"), note="武汉内部")
    client.force_login(outsider_agency)

    html = client.get(reverse("agency-drug", args=[wuhan.drug_id])).content.decode()
    assert "武汉内部" not in html and "全国基线草稿" in html
    assert "合肥市 适用" in html
    # The national draft is shown read-only to officers.
    assert reverse("agency-criterion-add", args=[national_draft.id]) not in html

    hx = client.post(reverse("agency-criteria-publish", args=[wuhan.id]), HTTP_HX_REQUEST="true")
    assert hx.headers["HX-Retarget"] == "#messages" and "认定条件不存在" in hx.content.decode()
    assert client.post(reverse("agency-criteria-publish", args=[wuhan.id])).status_code == 404
    item = wuhan.items.get(code="nsclc")
    assert client.post(reverse("agency-criterion-delete", args=[item.id])).status_code == 404
    refused = client.post(
        reverse("agency-criterion-add", args=[national_draft.id]),
        {"code": "x", "kind": "attestation", "text": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert "全国基线认定条件仅管理员可修改" in refused.content.decode()

    wuhan.refresh_from_db()
    national_draft.refresh_from_db()
    assert wuhan.status == national_draft.status == CriteriaStatus.DRAFT
    assert wuhan.items.count() == national_draft.items.count() == 4
    assert AuditEvent.objects.count() == 0
