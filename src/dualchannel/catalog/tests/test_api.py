"""Catalogue API: public search and detail, officer endpoints, the error shape."""

from __future__ import annotations

import pytest
from django.test import Client

from dualchannel.catalog.models import CriteriaSet, CriteriaStatus, Drug, PaymentStandard
from dualchannel.catalog.tests.factories import (
    DrugFactory,
    PaymentStandardFactory,
    RestrictionFactory,
    lung_cancer_set,
)
from dualchannel.core.models import AuditEvent
from dualchannel.registry.tests.factories import region

BASE = "/api/v1/catalog"


def _assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


def test_search_by_pinyin_initials_chinese_name_and_category(nrdl2025, api_client):
    first = api_client.get(f"{BASE}/drugs", {"q": "lltn"}).json()
    assert first["items"][0]["generic_name"] == "洛拉替尼片"

    upper = api_client.get(f"{BASE}/drugs", {"q": "LLTNP"}).json()
    assert upper["items"][0]["generic_name"] == "洛拉替尼片"

    full = api_client.get(f"{BASE}/drugs", {"q": "luolatini"}).json()
    assert [d["generic_name"] for d in full["items"]] == ["洛拉替尼片"]

    chinese = api_client.get(f"{BASE}/drugs", {"q": "拉替尼", "page_size": 100}).json()
    names = [d["generic_name"] for d in chinese["items"]]
    assert "洛拉替尼片" in names and all("拉替尼" in n for n in names)

    prefix = api_client.get(f"{BASE}/drugs", {"q": "洛拉"}).json()
    assert prefix["items"][0]["generic_name"] == "洛拉替尼片"

    alk = api_client.get(f"{BASE}/drugs", {"category": "XL01ED"}).json()
    assert {d["generic_name"] for d in alk["items"]} == {
        "盐酸阿来替尼胶囊",
        "布格替尼片",
        "洛拉替尼片",
    }

    by_name = api_client.get(f"{BASE}/drugs", {"category": "抗肿瘤药", "page_size": 1}).json()
    assert by_name["count"] == Drug.objects.filter(category_code__startswith="XL01").count()
    assert by_name["items"][0]["category_name"] == "抗肿瘤药"

    by_text = api_client.get(f"{BASE}/drugs", {"q": "抗肿瘤药"}).json()
    assert by_text["count"] >= by_name["count"]

    flags = api_client.get(f"{BASE}/drugs", {"cold_chain": True, "anti_cancer": True}).json()
    assert flags["count"] == Drug.objects.filter(needs_cold_chain=True, is_anti_cancer=True).count()

    cats = api_client.get(f"{BASE}/categories").json()
    xl01 = next(c for c in cats if c["code"] == "XL01")
    assert xl01["name"] == "抗肿瘤药" and xl01["drug_count"] == by_name["count"]


def test_public_detail_shows_agreement_standards_restriction_and_criteria(nrdl2025, api_client):
    drug = Drug.objects.get(generic_name="洛拉替尼片")

    body = api_client.get(f"{BASE}/drugs/{drug.id}").json()

    assert body["agreement_start"] == "2025-01-01" and body["is_anti_cancer"] is True
    assert body["restriction"]["text"].startswith("限间变性淋巴瘤激酶(ALK)阳性")
    assert body["payment_standards"][0]["is_confidential"] is True
    assert body["payment_standards"][0]["amount"] is None
    assert body["payment_standards"][0]["amount_label"] == "保密"
    criteria = body["criteria"]
    assert criteria["status"] == "published" and criteria["evaluation_cycle_days"] == 90
    assert {m["code"] for m in criteria["required_material_kinds"]} >= {"gene_test"}
    assert criteria["items"][1]["expression"] == 'genes["ALK"] == "positive"'


def test_confidential_amount_is_never_in_public_output(db, api_client, admin_user, agency_user):
    standard = PaymentStandardFactory(confidential=True)
    RestrictionFactory(drug=standard.drug)
    response = api_client.as_user(admin_user).put(
        f"{BASE}/payment-standards/{standard.id}/amount",
        {"amount": "31415.92"},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["amount"] == "31415.92"

    public = Client()
    detail = public.get(f"{BASE}/drugs/{standard.drug_id}")
    listing = public.get(f"{BASE}/drugs", {"q": standard.drug.generic_name})
    assert "31415" not in detail.content.decode() and "31415" not in listing.content.decode()
    assert detail.json()["payment_standard_history"][0]["amount_label"] == "保密"
    officer = api_client.as_user(agency_user)
    # Even an officer's session does not reveal it through the public endpoint.
    assert "31415" not in officer.get(f"{BASE}/drugs/{standard.drug_id}").content.decode()
    history = officer.get(f"{BASE}/drugs/{standard.drug_id}/payment-standards").json()
    assert history[0]["amount"] == "31415.92"


def test_unknown_drug_gives_the_error_shape(db, api_client):
    error = _assert_error(api_client.get(f"{BASE}/drugs/999999"), 404, "catalog.drug_not_found")
    assert error["message"] == "药品不存在"


# National catalogue data: only catalogue administrators (admins) change it.
ADMIN_CALLS = [
    ("patch", "/drugs/{drug}/flags", {"is_separately_paid": True}),
    ("put", "/payment-standards/{standard}/amount", {"amount": "10.00"}),
]

OFFICER_CALLS = [
    ("post", "/drugs/{drug}/criteria-sets", None),
    ("post", "/criteria-sets/{set}/items", {"code": "x", "kind": "attestation", "text": "x"}),
    ("patch", "/criteria-items/{item}", {"text": "y"}),
    ("delete", "/criteria-items/{item}", None),
    ("post", "/criteria-sets/{set}/reorder", {"codes": ["alk", "nsclc", "adjuvant", "advanced"]}),
    ("post", "/criteria-sets/{set}/publish", {}),
    ("patch", "/criteria-sets/{set}", {"evaluation_cycle_days": 30}),
    ("get", "/drugs/{drug}/payment-standards", None),
    ("get", "/drugs/{drug}/criteria-sets", None),
]


@pytest.fixture
def editable(db):
    # A Wuhan draft: the ``agency_user`` works for the Wuhan agency (420100).
    draft = lung_cancer_set(region=region("420100"))
    standard = PaymentStandardFactory(drug=draft.drug, confidential=True)
    return {
        "drug": draft.drug_id,
        "set": draft.id,
        "item": draft.items.get(code="nsclc").id,
        "standard": standard.id,
    }


def _call(client, method, path, data):
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, data or {}, content_type="application/json")


@pytest.mark.parametrize(("method", "path", "data"), OFFICER_CALLS + ADMIN_CALLS)
def test_officer_endpoints_refuse_anonymous_and_physicians(
    editable, api_client, physician_user, method, path, data
):
    url = BASE + path.format(**editable)
    events = AuditEvent.objects.count()

    _assert_error(_call(api_client, method, url, data), 401, "unauthenticated")
    _assert_error(
        _call(api_client.as_user(physician_user), method, url, data), 403, "permission_denied"
    )

    assert AuditEvent.objects.count() == events
    assert PaymentStandard.objects.get(pk=editable["standard"]).amount is None


@pytest.mark.parametrize(("method", "path", "data"), OFFICER_CALLS)
def test_officer_endpoints_work_for_officers_and_audit_writes(
    editable, api_client, agency_user, method, path, data
):
    url = BASE + path.format(**editable)
    if path == "/drugs/{drug}/criteria-sets" and method == "post":
        # A draft exists already: publish it first so a new draft can be made.
        _call(
            api_client.as_user(agency_user),
            "post",
            f"{BASE}/criteria-sets/{editable['set']}/publish",
            {},
        )
    events = AuditEvent.objects.count()

    response = _call(api_client.as_user(agency_user), method, url, data)

    assert response.status_code in (200, 201, 204), response.content
    if method == "get":
        assert AuditEvent.objects.count() == events
    else:
        assert AuditEvent.objects.count() == events + 1
        assert AuditEvent.objects.order_by("-id").first().actor == agency_user


@pytest.mark.parametrize(("method", "path", "data"), ADMIN_CALLS)
def test_national_catalogue_writes_are_for_admins_only(
    editable, api_client, agency_user, admin_user, method, path, data
):
    url = BASE + path.format(**editable)
    events = AuditEvent.objects.count()

    _assert_error(
        _call(api_client.as_user(agency_user), method, url, data),
        403,
        "catalog.national_catalogue_admin_only",
    )
    assert AuditEvent.objects.count() == events

    response = _call(api_client.as_user(admin_user), method, url, data)
    assert response.status_code == 200, response.content
    assert AuditEvent.objects.count() == events + 1


def test_officer_errors_use_the_error_shape(editable, api_client, agency_user):
    officer = api_client.as_user(agency_user)
    error = _assert_error(
        officer.post(
            f"{BASE}/criteria-sets/{editable['set']}/items",
            {"code": "bad", "kind": "condition", "text": "x", "expression": "age > 1"},
            content_type="application/json",
        ),
        400,
        "catalog.invalid_expression",
    )
    assert "age" in error["fields"]["expression"][0]
    error = _assert_error(
        officer.put(
            f"{BASE}/payment-standards/{editable['standard']}/amount",
            {"amount": "lots"},
            content_type="application/json",
        ),
        422,
        "validation_error",
    )
    assert "amount" in error["fields"]


def test_evaluate_endpoint(editable, api_client, physician_user, agency_user):
    url = f"{BASE}/criteria-sets/{editable['set']}/evaluate"
    payload = {
        "context": {"diagnoses": ["C34.901"], "genes": {"ALK": "positive"}},
        "answers": {"advanced": True},
    }
    # Drafts are visible to officers only.
    _assert_error(
        api_client.as_user(physician_user).post(url, payload, content_type="application/json"),
        404,
        "catalog.criteria_not_found",
    )
    body = (
        api_client.as_user(agency_user).post(url, payload, content_type="application/json").json()
    )
    assert body["verdict"] == "eligible" and body["verdict_label"] == "符合认定条件"

    CriteriaSet.objects.filter(pk=editable["set"]).update(status=CriteriaStatus.PUBLISHED)
    body = (
        api_client.as_user(physician_user)
        .post(url, {**payload, "context": {"genes": {}}}, content_type="application/json")
        .json()
    )
    assert body["verdict"] == "incomplete"
    assert {i["code"]: i["outcome"] for i in body["items"]}["alk"] == "unknown"


def test_pagination(db, api_client):
    for _ in range(5):
        DrugFactory()
    body = api_client.get(f"{BASE}/drugs", {"page": 2, "page_size": 2}).json()
    assert (body["count"], body["page"], len(body["items"])) == (5, 2, 2)
    _assert_error(api_client.get(f"{BASE}/drugs", {"page_size": 1000}), 422, "validation_error")


# --- regional criteria ---


@pytest.fixture
def regional(db):
    """A drug with a national published set, a Wuhan published set and a Wuhan draft."""
    national = lung_cancer_set(status=CriteriaStatus.PUBLISHED)
    drug = national.drug
    wuhan = lung_cancer_set(drug=drug, status=CriteriaStatus.PUBLISHED, region=region("420100"))
    draft = lung_cancer_set(drug=drug, region=region("420100"), note="武汉市内部草稿")
    national_draft = lung_cancer_set(drug=drug, note="全国基线草稿")
    for code in ("420102", "340102"):  # the counties asked about (with their ancestors)
        region(code)
    return {
        "drug": drug.id,
        "national": national.id,
        "wuhan": wuhan.id,
        "set": draft.id,
        "item": draft.items.get(code="nsclc").id,
        "national_draft": national_draft.id,
        "national_item": national_draft.items.get(code="nsclc").id,
    }


def test_public_detail_shows_the_criteria_in_force_for_a_region(
    regional, api_client, agency_user, outsider_agency
):
    url = f"{BASE}/drugs/{regional['drug']}"

    anonymous = api_client.get(url).json()
    assert anonymous["criteria"]["id"] == regional["national"]
    assert anonymous["criteria"]["scope_label"] == "全国基线"
    assert anonymous["criteria"]["region"] is None
    assert anonymous["criteria_region"] is None and anonymous["criteria_in_force"] is None

    county = api_client.get(url, {"region": "420102"}).json()
    assert county["criteria"]["id"] == regional["national"]
    assert county["criteria_region"] == {"code": "420102", "name": "江岸区", "label": "江岸区 适用"}
    assert county["criteria_in_force"]["id"] == regional["wuhan"]
    assert county["criteria_in_force"]["scope_label"] == "武汉市"
    assert county["criteria_in_force"]["region"] == "420100"

    hefei = api_client.get(url, {"region": "340102"}).json()
    assert hefei["criteria_in_force"]["id"] == regional["national"]

    _assert_error(api_client.get(url, {"region": "999999"}), 404, "catalog.region_not_found")

    as_wuhan = api_client.as_user(agency_user).get(url).json()
    assert as_wuhan["criteria_region"]["label"] == "武汉市 适用"
    assert as_wuhan["criteria_in_force"]["id"] == regional["wuhan"]
    as_hefei = api_client.as_user(outsider_agency).get(url).json()
    assert as_hefei["criteria_region"]["label"] == "合肥市 适用"
    assert as_hefei["criteria_in_force"]["id"] == regional["national"]

    # Drafts never appear in the public detail.
    for body in (anonymous, county, as_wuhan):
        assert "武汉市内部草稿" not in str(body) and "全国基线草稿" not in str(body)


def test_officers_list_national_sets_and_their_own_region(
    regional, api_client, agency_user, outsider_agency
):
    url = f"{BASE}/drugs/{regional['drug']}/criteria-sets"

    wuhan_ids = {s["id"] for s in api_client.as_user(agency_user).get(url).json()}
    hefei_ids = {s["id"] for s in api_client.as_user(outsider_agency).get(url).json()}

    national = {regional["national"], regional["national_draft"]}
    assert wuhan_ids == national | {regional["wuhan"], regional["set"]}
    assert hefei_ids == national


def test_outsider_cannot_read_the_wuhan_draft(regional, api_client, outsider_agency, agency_user):
    outsider = api_client.as_user(outsider_agency)
    for path in (f"/criteria-sets/{regional['set']}",):
        _assert_error(outsider.get(BASE + path), 404, "catalog.criteria_not_found")
    _assert_error(
        outsider.post_json(f"{BASE}/criteria-sets/{regional['set']}/evaluate", {}),
        404,
        "catalog.criteria_not_found",
    )
    # Published sets are policy: anyone reads them, whichever region.
    assert outsider.get(f"{BASE}/criteria-sets/{regional['wuhan']}").status_code == 200
    wuhan = api_client.as_user(agency_user).get(f"{BASE}/criteria-sets/{regional['set']}")
    assert wuhan.status_code == 200 and wuhan.json()["note"] == "武汉市内部草稿"


CRITERIA_WRITES = [
    ("post", "/criteria-sets/{set}/items", {"code": "x", "kind": "attestation", "text": "x"}),
    ("patch", "/criteria-items/{item}", {"text": "y"}),
    ("delete", "/criteria-items/{item}", None),
    ("post", "/criteria-sets/{set}/reorder", {"codes": ["alk", "nsclc", "adjuvant", "advanced"]}),
    ("post", "/criteria-sets/{set}/publish", {}),
    ("patch", "/criteria-sets/{set}", {"evaluation_cycle_days": 30}),
]


def _snapshot_sets():

    return [
        (
            s.pk,
            s.status,
            s.evaluation_cycle_days,
            [(i.code, i.text, i.position) for i in s.items.all()],
        )
        for s in CriteriaSet.objects.order_by("pk").prefetch_related("items")
    ]


@pytest.mark.parametrize(("method", "path", "data"), CRITERIA_WRITES)
def test_outsider_cannot_change_wuhan_or_national_sets(
    regional, api_client, outsider_agency, agency_user, method, path, data
):
    before = _snapshot_sets()
    events = AuditEvent.objects.count()
    outsider = api_client.as_user(outsider_agency)

    wuhan_url = BASE + path.format(**regional)
    response = _call(outsider, method, wuhan_url, data)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] in (
        "catalog.criteria_not_found",
        "catalog.criterion_not_found",
    )

    national_url = BASE + path.format(
        set=regional["national_draft"], item=regional["national_item"]
    )
    for officer in (outsider_agency, agency_user):
        _assert_error(
            _call(api_client.as_user(officer), method, national_url, data),
            403,
            "catalog.national_criteria_admin_only",
        )

    assert _snapshot_sets() == before
    assert AuditEvent.objects.count() == events


def test_draft_creation_is_scoped_to_the_officer_region(regional, api_client, outsider_agency):
    outsider = api_client.as_user(outsider_agency)
    url = f"{BASE}/drugs/{regional['drug']}/criteria-sets"

    _assert_error(outsider.post(url + "?region=420100"), 404, "catalog.region_not_found")
    assert AuditEvent.objects.count() == 0

    created = outsider.post(url)
    assert created.status_code == 201
    body = created.json()
    assert (body["region"], body["region_name"], body["status"]) == ("340100", "合肥市", "draft")
    # Copied from the set in force in Hefei: the national baseline.
    assert body["note"] == ""


def test_admin_edits_national_sets_through_the_api(regional, api_client, admin_user):
    admin = api_client.as_user(admin_user)
    response = admin.patch_json(
        f"{BASE}/criteria-items/{regional['national_item']}", {"text": "管理员修订"}
    )
    assert response.status_code == 200 and response.json()["text"] == "管理员修订"
    published = admin.post_json(f"{BASE}/criteria-sets/{regional['national_draft']}/publish", {})
    assert published.status_code == 200 and published.json()["status"] == "published"

    statuses = dict(CriteriaSet.objects.values_list("pk", "status"))
    assert statuses[regional["national"]] == "retired"
    assert statuses[regional["wuhan"]] == "published"
