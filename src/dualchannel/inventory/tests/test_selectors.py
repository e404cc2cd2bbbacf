"""FEFO picks, availability, stock status and coverage against the profile's minimum."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.errors import PermissionDenied
from dualchannel.inventory.models import StockItem
from dualchannel.inventory.selectors import (
    STOCK_STATUS_CODES,
    coverage_report,
    fefo_suggestion,
    pharmacy_coverage,
    stock_available,
    stock_status,
)
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.tests.factories import InstitutionFactory, load_seed_profiles

from .conftest import in_days
from .factories import StockItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def batches(pharmacy, drug):
    """Four batches: expired, empty, later, sooner."""
    return {
        "expired": StockItemFactory(
            pharmacy=pharmacy, drug=drug, batch_no="E", quantity=9, expiry_date=in_days(-1)
        ),
        "empty": StockItemFactory(
            pharmacy=pharmacy, drug=drug, batch_no="Z", quantity=0, expiry_date=in_days(10)
        ),
        "later": StockItemFactory(
            pharmacy=pharmacy, drug=drug, batch_no="L", quantity=5, expiry_date=in_days(300)
        ),
        "sooner": StockItemFactory(
            pharmacy=pharmacy, drug=drug, batch_no="S", quantity=2, expiry_date=in_days(30)
        ),
    }


def test_fefo_takes_the_earliest_expiry_first_and_skips_expired_and_empty(pharmacy, drug, batches):
    suggestion = fefo_suggestion(pharmacy, drug, 4)

    assert [(p.stock_item.batch_no, p.quantity) for p in suggestion.picks] == [("S", 2), ("L", 2)]
    assert suggestion.shortfall == 0


def test_fefo_tells_the_shortfall(pharmacy, drug, batches):
    suggestion = fefo_suggestion(pharmacy, drug, 10)

    assert suggestion.available == 7
    assert suggestion.shortfall == 3


def test_fefo_on_a_later_day_skips_what_will_have_expired(pharmacy, drug, batches):
    suggestion = fefo_suggestion(pharmacy, drug, 4, on=in_days(31))

    assert [(p.stock_item.batch_no, p.quantity) for p in suggestion.picks] == [("L", 4)]


def test_stock_available_counts_sellable_packages_only(pharmacy, drug, batches):
    assert stock_available(pharmacy, drug) == 7
    assert stock_available(pharmacy.pk, drug.pk, on=in_days(100)) == 5


def test_stock_status_all_partly_none(pharmacy, drug, other_drug, batches):
    assert stock_status(pharmacy, {drug.pk: 7}) == "all"
    assert stock_status(pharmacy, {drug.pk: 8}) == "partly"
    assert stock_status(pharmacy, {drug.pk: 1, other_drug.pk: 1}) == "partly"
    assert stock_status(pharmacy, {other_drug.pk: 1}) == "none"
    assert STOCK_STATUS_CODES == {"all": "1", "partly": "0", "none": "-1"}


def stock_drugs(pharmacy, count: int) -> None:
    for _ in range(count):
        StockItemFactory(pharmacy=pharmacy, drug=DrugFactory(), quantity=1)


def test_sd_urban_pharmacy_needs_30_negotiated_drugs(db):
    # SD §6: 市辖区内"双通道"药店谈判药品配备不少于30种
    load_seed_profiles()
    urban = InstitutionFactory(kind=InstitutionKind.PHARMACY, region_code="370102")
    stock_drugs(urban, 29)
    StockItemFactory(pharmacy=urban, drug=DrugFactory(), quantity=0)  # listed, none in stock
    StockItemFactory(
        pharmacy=urban, drug=DrugFactory(), quantity=4, expiry_date=in_days(-1)
    )  # expired

    short = pharmacy_coverage(urban)
    stock_drugs(urban, 1)
    met = pharmacy_coverage(urban)

    assert (short.area, short.drugs_in_stock, short.min_drugs, short.meets) == (
        "urban",
        29,
        30,
        False,
    )
    assert "第六部分" in short.basis and "SD §" not in short.basis  # the page's words
    assert (met.drugs_in_stock, met.meets) == (30, True)


def test_sd_county_pharmacy_needs_20(db):
    # SD §6: 县域内"双通道"药店配备不少于20种
    load_seed_profiles()
    county = InstitutionFactory(kind=InstitutionKind.PHARMACY, region_code="370124")
    stock_drugs(county, 20)

    coverage = pharmacy_coverage(county)

    assert (coverage.area, coverage.min_drugs, coverage.meets) == ("county", 20, True)


def test_cx_pharmacy_needs_30_percent_of_the_negotiated_list(db):
    # CX art. 14(1): 配备国家医保谈判药品品种不得低于30%
    load_seed_profiles()
    pharmacy = InstitutionFactory(kind=InstitutionKind.PHARMACY, region_code="532301")
    listed = DrugFactory.create_batch(10)  # the negotiated list
    StockItemFactory(pharmacy=pharmacy, drug=DrugFactory(is_negotiated=False), quantity=5)
    for drug in listed[:2]:
        StockItemFactory(pharmacy=pharmacy, drug=drug, quantity=1)

    short = pharmacy_coverage(pharmacy)
    StockItemFactory(pharmacy=pharmacy, drug=listed[2], quantity=1)
    met = pharmacy_coverage(pharmacy)

    assert (short.negotiated_in_catalogue, short.ratio, short.min_ratio, short.meets) == (
        10,
        Decimal("0.2000"),
        Decimal("0.3000"),
        False,
    )
    assert short.min_drugs is None
    assert (met.ratio, met.meets) == (Decimal("0.3000"), True)


def test_a_profile_without_a_minimum_says_so(db):
    load_seed_profiles()
    wuhan = InstitutionFactory(kind=InstitutionKind.PHARMACY, region_code="420102")

    coverage = pharmacy_coverage(wuhan)

    assert (coverage.min_drugs, coverage.min_ratio, coverage.meets) == (None, None, None)


def test_the_report_covers_the_officers_region_only(
    agency_user, outsider_agency, pharmacy, other_pharmacy, drug, physician_user
):
    StockItemFactory(pharmacy=pharmacy, drug=drug, quantity=1)
    StockItemFactory(pharmacy=other_pharmacy, drug=drug, quantity=1)

    wuhan = coverage_report(agency_user)
    hefei = coverage_report(outsider_agency)

    assert [c.pharmacy_id for c in wuhan] == [pharmacy.pk]
    assert wuhan[0].drugs_in_stock == 1
    assert [c.pharmacy_id for c in hefei] == [other_pharmacy.pk]
    with pytest.raises(PermissionDenied):
        coverage_report(physician_user)
    assert StockItem.objects.count() == 2
