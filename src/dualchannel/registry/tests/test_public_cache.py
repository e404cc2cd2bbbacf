"""The public query keeps its answers per worker while their data is unchanged
(``registry.public_cache``): a repeated query costs one statement, and a write — through the
services or a row added by a bulk load — gives the next visitor the new answer."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dualchannel.catalog.models import Drug
from dualchannel.inventory.models import StockItem
from dualchannel.registry import public_cache, services
from dualchannel.registry.models import DesignationStatus as S
from dualchannel.registry.models import ExitReason, Region
from dualchannel.registry.tests.factories import designate, make_drug, qualified_pharmacy

DISTRICT = {"province": "420000", "city": "420100", "county": "420102"}


def _two_pharmacies():
    drug = make_drug("奥希替尼", "axtn")
    first = qualified_pharmacy(region_code="420102", name="江岸甲药房")
    second = qualified_pharmacy(region_code="420102", name="江岸乙药房")
    for pharmacy in (first, second):
        designate(pharmacy)
        pharmacy.equipped_drugs.create(drug=drug)
    return drug, first, second


def _names(client, **params) -> list[str]:
    answer = client.get("/api/v1/public/institutions", params)
    assert answer.status_code == 200
    return [item["name"] for item in answer.json()["items"]]


def test_a_repeated_query_is_answered_from_memory_with_one_statement(client, db):
    # given a searched district, asked once
    _two_pharmacies()
    first = client.get("/query/results/", {**DISTRICT, "drug": "axtn"}).content.decode()

    # when the same search comes again
    with CaptureQueriesContext(connection) as fragment:
        again = client.get("/query/results/", {**DISTRICT, "drug": "axtn"}).content.decode()
    _names(client, region="420102", limit=1)
    with CaptureQueriesContext(connection) as new_page:
        second_page = _names(client, region="420102", limit=1, offset=1)
    with CaptureQueriesContext(connection) as page:
        second_page_again = _names(client, region="420102", limit=1, offset=1)

    # then the same answer, from one version statement; an API page not asked before reads its
    # rows and the version again (kept only if no write came in between), then it is kept too
    assert again == first and "江岸甲药房" in again and "江岸乙药房" in again
    assert len(fragment) == 1, [q["sql"] for q in fragment.captured_queries]
    assert second_page == second_page_again == ["江岸甲药房"]  # by name: 乙 before 甲
    assert len(new_page) == 3, [q["sql"] for q in new_page.captured_queries]
    assert len(page) == 1, [q["sql"] for q in page.captured_queries]


def test_a_designation_ended_through_the_services_leaves_the_next_answer(
    client, agency_user, profiles
):
    # given both pharmacies listed and the answer kept
    _, first, _ = _two_pharmacies()
    assert _names(client, region="420102") == ["江岸乙药房", "江岸甲药房"]
    assert "江岸甲药房" in client.get("/query/results/", DISTRICT).content.decode()

    # when the agency ends one pharmacy's designation
    services.designation_transition(
        actor=agency_user,
        designation=first.designations.get(status=S.ACTIVE),
        to_status=S.EXITED,
        exit_reason=ExitReason.VOLUNTARY,
        reason="主动退出",
    )

    # then neither the API nor the page lists it any more
    assert _names(client, region="420102") == ["江岸乙药房"]
    assert "江岸甲药房" not in client.get("/query/results/", DISTRICT).content.decode()


def test_a_drug_removed_through_the_services_and_stock_received_change_the_answer(
    client, agency_user
):

    # given a drug search, answered and kept
    drug, first, second = _two_pharmacies()
    items = client.get("/api/v1/public/institutions", {"drug": "axtn"}).json()["items"]
    assert {i["name"]: i["in_stock"] for i in items} == {"江岸甲药房": False, "江岸乙药房": False}

    # when one pharmacy no longer equips it and the other gets a batch on its shelf
    services.equipped_drug_remove(actor=agency_user, institution=first, drug=drug)
    StockItem.objects.create(
        pharmacy=second,
        drug=drug,
        batch_no="B1",
        expiry_date=timezone.localdate() + timedelta(days=200),
        retail_price="100.00",
        quantity=2,
    )

    # then the next answer says so
    items = client.get("/api/v1/public/institutions", {"drug": "axtn"}).json()["items"]
    assert {i["name"]: i["in_stock"] for i in items} == {"江岸乙药房": True}


def test_a_worker_keeps_answers_up_to_its_row_budget(monkeypatch):

    # given a budget of five rows
    monkeypatch.setattr(public_cache, "MAX_ROWS", 5)
    built = []

    def answer(n: int):
        built.append(n)
        return list(range(n))

    # when answers of 3, 2 and 6 rows come, then the first again
    for n in (3, 2, 6, 3):
        public_cache.reference(("test", n), lambda n=n: answer(n))

    # then the two that fit were kept, the one over the budget never, and nothing more is held
    assert built == [3, 2, 6]
    assert public_cache._rows == 5
    public_cache.reference(("test", 7), lambda: answer(4))  # pushes out the oldest
    assert public_cache._rows == 4 and ("test", 3) not in public_cache._entries


def test_a_kept_api_page_shows_an_institution_changed_through_the_services(client, agency_user):
    # given a district's API page asked twice (its rows kept)
    _, first, _ = _two_pharmacies()
    assert _names(client, region="420102") == ["江岸乙药房", "江岸甲药房"]
    assert _names(client, region="420102") == ["江岸乙药房", "江岸甲药房"]

    # when the agency corrects one pharmacy's phone through the services
    services.institution_update(actor=agency_user, institution=first, phone="027-87654321")

    # then the next answer carries the new phone, not the kept row
    items = client.get("/api/v1/public/institutions", {"region": "420102"}).json()["items"]
    assert {i["name"]: i["phone"] for i in items}["江岸甲药房"] == "027-87654321"


def test_a_catalogue_or_regions_reload_changes_the_next_answer_without_waiting(client, db):
    """A reload by management command writes no audit event and often no new id; the drugs' and
    regions' table versions (core.refcache triggers) are part of the answers' version."""
    # given a drug search, answered and kept
    drug, _, _ = _two_pharmacies()
    first = client.get("/query/results/", {**DISTRICT, "drug": "axtn"}).content.decode()
    assert "共找到 2 家" in first

    # when the catalogue's reload corrects the drug's pinyin initials in place (an update: no
    # audit event, no new id)
    Drug.objects.filter(pk=drug.pk).update(pinyin_initials="jhsaxtn")
    again = client.get("/query/results/", {**DISTRICT, "drug": "axtn"}).content.decode()

    # then the next visitor gets the new answer, though the cache's time limit is far off
    assert "江岸甲药房" not in again and "江岸乙药房" not in again

    # and so for a region renamed by the regions' reload
    assert {i["region_path"] for i in _items(client, region="420102")} == {"湖北省武汉市江岸区"}
    Region.objects.filter(pk="420102").update(name="江岸新区")
    assert {i["region_path"] for i in _items(client, region="420102")} == {"湖北省武汉市江岸新区"}


def _items(client, **params) -> list[dict]:
    return client.get("/api/v1/public/institutions", params).json()["items"]


def test_the_forms_region_selects_are_rendered_once_per_choice(client, db):
    """The whole page's province, city and county selects (some 60 options) are kept per worker
    with the regions: the page asked again renders only the page around them."""
    _two_pharmacies()  # Jiang'an's: the regions with designated institutions are listed
    partial = "registry/_public_region_selects.html"
    first = client.get("/query/", DISTRICT)
    again = client.get("/query/", DISTRICT)
    other = client.get("/query/", {"province": "420000"})

    assert partial in [t.name for t in first.templates]
    assert partial not in [t.name for t in again.templates]
    page = again.content.decode()
    selects = page[page.index('<div class="query-regions">') :]
    assert first.content.decode().count(selects[: selects.index("</div>")]) == 1
    assert '<option value="420102" selected>' in page and '<option value="420100" selected>' in page
    assert '<option value="420102" selected>' not in other.content.decode()
    assert '<option value="420000" selected>' in other.content.decode()
