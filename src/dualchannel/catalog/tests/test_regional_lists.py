"""Drugs in force [SD §1, CX art. 3, 4, 6]: the agreement period with the agency's grace, and the
lists a region publishes on top of the national one, imported with a dry run.

The ``agency_user`` works for the Wuhan agency (420100); the ``outsider_agency`` for Hefei.
"""

from __future__ import annotations

from datetime import date

import pytest

from dualchannel.catalog import selectors
from dualchannel.catalog.models import RegionalList, RegionalListEntry, RegionalListKind
from dualchannel.catalog.regional_lists import RegionalListFileError, regional_list_import
from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.core.errors import Conflict, NotFound
from dualchannel.core.models import AuditEvent
from dualchannel.registry.tests.factories import region

K = RegionalListKind


def _csv(*rows: str, header: str = "通用名,生效日期,失效日期,备注") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def _import(actor, raw: bytes, *, dry_run=False, kind=K.DUAL_CHANNEL, **overrides):
    values = {
        "region_code": "420100",
        "kind": kind,
        "title": "武汉市2027年双通道管理药品目录",
        "valid_from": "2027-01-01",
        "valid_to": "2027-12-31",
        "document_no": "武医保〔2026〕1号",
        "raw": raw,
        "filename": "list.csv",
        "dry_run": dry_run,
    } | overrides
    return regional_list_import(actor=actor, **values)


def _nothing_written() -> tuple[int, int, int]:
    return (
        RegionalList.objects.count(),
        RegionalListEntry.objects.count(),
        AuditEvent.objects.filter(action__startswith="catalog.regional_list").count(),
    )


# --- the agreement period --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_drug_is_not_payable_after_its_agreement_period_ends():
    """SD §1: only drugs within their agreement period (协议期内) are dual-channel drugs; the day
    after the period ends the fund no longer pays for it."""
    drug = DrugFactory(agreement_end=date(2026, 12, 31))
    wuhan = region("420102")

    on_last_day = selectors.drug_standing(drug, wuhan, date(2026, 12, 31))
    day_after = selectors.drug_standing(drug, wuhan, date(2027, 1, 1))

    assert on_last_day.payable
    assert not day_after.payable
    assert day_after.reason == selectors.OUTSIDE_AGREEMENT
    assert "协议期已于2026-12-31结束" in day_after.message


@pytest.mark.django_db
def test_the_agencys_grace_days_extend_payment_after_the_period():
    """SD §1, CX art. 4: the agency sets a grace after the period ends (profile
    ``agreement_grace_days``); within it the drug is paid, after it not."""
    drug = DrugFactory(agreement_end=date(2026, 12, 31))
    wuhan = region("420102")

    within = selectors.drug_standing(drug, wuhan, date(2027, 1, 30), grace_days=30)
    after = selectors.drug_standing(drug, wuhan, date(2027, 1, 31), grace_days=30)

    assert within.payable
    assert not after.payable
    assert "含宽限期30天，至2027-01-30" in after.message


# --- regional lists in force -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_dual_channel_list_in_force_is_the_regions_scope(agency_user):
    """CX art. 4, 6: the prefecture adjusts its dual-channel list once a year and the whole
    region follows it; a negotiated drug off the list in force is not paid as dual-channel."""
    listed, unlisted = DrugFactory(), DrugFactory()
    _import(agency_user, _csv(f"{listed.generic_name},,,"))
    jiangan = region("420102")

    assert selectors.drug_standing(listed, jiangan, date(2027, 3, 1)).payable
    off = selectors.drug_standing(unlisted, jiangan, date(2027, 3, 1))
    assert off.reason == selectors.NOT_IN_REGIONAL_LIST
    assert "未列入武汉市2027年双通道管理药品目录" in off.message
    # before the list takes effect, and in another region, the national list applies
    assert selectors.drug_standing(unlisted, jiangan, date(2026, 12, 31)).payable
    assert selectors.drug_standing(unlisted, region("340102"), date(2027, 3, 1)).payable


@pytest.mark.django_db
def test_a_chronic_disease_list_pays_a_drug_outside_the_agreement_period(agency_user):
    """CX art. 3 ¶2: outpatient chronic and special disease drugs outside the negotiated list are
    brought into the dual channel by the region's list, whatever the agreement period says."""
    drug = DrugFactory(agreement_end=date(2026, 6, 30), is_negotiated=False)
    negotiated_expired = DrugFactory(agreement_end=date(2026, 6, 30))
    _import(
        agency_user,
        _csv(f"{drug.generic_name},,,", f"{negotiated_expired.generic_name},,,"),
        kind=K.CHRONIC_DISEASE,
        title="武汉市门诊慢特病双通道用药",
    )

    standing = selectors.drug_standing(negotiated_expired, region("420102"), date(2027, 2, 1))

    assert standing.payable
    assert standing.lists == ("武汉市门诊慢特病双通道用药",)


@pytest.mark.django_db
def test_the_separately_paid_list_marks_drugs_separately_paid_in_its_region(agency_user):
    """HB ch. 2: the province's separately-paid drugs need an eligibility; a regional list makes
    a drug separately paid there, and only there."""
    drug = DrugFactory(is_separately_paid=False)
    _import(
        agency_user,
        _csv(f"{drug.generic_name},2027-03-01,,"),
        kind=K.SEPARATELY_PAID,
        title="武汉市单独支付药品",
    )

    assert selectors.drug_standing(drug, region("420102"), date(2027, 3, 1)).separately_paid
    assert not selectors.drug_standing(drug, region("420102"), date(2027, 2, 28)).separately_paid
    assert not selectors.drug_standing(drug, region("340102"), date(2027, 3, 1)).separately_paid


@pytest.mark.django_db
def test_dry_run_reports_and_writes_nothing(agency_user):
    """CX art. 4: the catalogue admin checks a list before it takes effect; a dry run lists
    what would be written and writes nothing."""
    drug = DrugFactory()

    report = _import(agency_user, _csv(f"{drug.generic_name},,,首批"), dry_run=True)

    assert report.dry_run and report.rows == 1
    assert [e.drug for e in report.entries] == [drug]
    assert _nothing_written() == (0, 0, 0)


@pytest.mark.django_db
def test_import_writes_the_list_with_its_audit_event(agency_user):
    """CX art. 4, 7: the prefecture's list is recorded as dated data, audited."""
    drug = DrugFactory(national_code="X" + "A" * 22)
    raw = _csv(
        f"{drug.national_code},2027-02-01,2027-06-30,", header="医保药品代码,生效日期,失效日期,备注"
    )

    report = _import(agency_user, raw)

    listing = report.regional_list
    entry = listing.entries.get()
    assert (entry.drug, entry.valid_from, entry.valid_to) == (
        drug,
        date(2027, 2, 1),
        date(2027, 6, 30),
    )
    assert listing.created_by == agency_user and listing.row_count == 1
    event = AuditEvent.objects.get(action="catalog.regional_list_imported")
    assert event.summary["entries"] == 1


@pytest.mark.django_db
def test_the_next_years_list_closes_an_open_ended_one(agency_user):
    """CX art. 4: adjusted once a year; the new list closes the previous open-ended one."""
    drug = DrugFactory()
    first = _import(agency_user, _csv(f"{drug.generic_name},,,"), valid_to=None).regional_list

    _import(
        agency_user,
        _csv(f"{drug.generic_name},2028-01-01,,"),
        valid_from="2028-01-01",
        valid_to=None,
    )

    first.refresh_from_db()
    assert first.valid_to == date(2027, 12, 31)
    assert AuditEvent.objects.filter(action="catalog.regional_list_closed").count() == 1


@pytest.mark.django_db
def test_bad_rows_are_all_reported_and_nothing_is_written(agency_user):
    """Bad input: an unknown drug code, a bad date, dates overlapping within the file or outside
    the list: refused with a code and a Chinese message, nothing written."""
    drug = DrugFactory()
    raw = _csv(
        "X0000000000000000000000,不存在药,,",
        f",{drug.generic_name},2027-02-30,,",
        f",{drug.generic_name},2027-01-01,2027-06-30,",
        f",{drug.generic_name},2027-06-01,,",
        f",{drug.generic_name},2026-12-01,,",
        header="医保药品代码,通用名,生效日期,失效日期",
    )

    with pytest.raises(RegionalListFileError) as caught:
        _import(agency_user, raw)

    assert caught.value.code == "catalog.regional_list_invalid"
    assert "未导入任何内容" in caught.value.message
    messages = {(row, name): text for row, name, text in caught.value.errors}
    # rows as the spreadsheet shows them: the header is row 1
    assert "未知药品代码" in messages[(2, "drug_code")]
    assert "格式有误" in messages[(3, "valid_from")]
    assert "日期重叠" in messages[(5, "valid_from")]
    assert "与第4行的日期重叠" in messages[(5, "valid_from")]
    assert "早于目录执行日期" in messages[(6, "valid_from")]
    assert _nothing_written() == (0, 0, 0)


@pytest.mark.django_db
def test_a_list_overlapping_another_of_the_same_kind_is_refused(agency_user):
    """Bad input: two lists of one region and kind in force at once are refused, in the dry run
    as in the import."""
    drug = DrugFactory()
    _import(agency_user, _csv(f"{drug.generic_name},,,"))
    before = _nothing_written()

    for dry_run in (True, False):
        with pytest.raises(Conflict) as caught:
            _import(
                agency_user,
                _csv(f"{drug.generic_name},,,"),
                valid_from="2027-06-01",
                dry_run=dry_run,
            )
        assert caught.value.code == "catalog.regional_list_overlap"
        assert "日期重叠" in caught.value.message
    assert _nothing_written() == before


@pytest.mark.django_db
def test_a_bad_list_date_or_file_is_refused(agency_user):
    """Bad input: a bad list date, an end before the start, a legacy .xls file: refused."""
    drug = DrugFactory()
    raw = _csv(f"{drug.generic_name},,,")

    with pytest.raises(RegionalListFileError) as bad_date:
        _import(agency_user, raw, valid_from="2027-13-01")
    with pytest.raises(RegionalListFileError) as reversed_dates:
        _import(agency_user, raw, valid_to="2026-01-01")
    with pytest.raises(RegionalListFileError) as xls:
        _import(agency_user, raw, filename="list.xls")

    assert "valid_from" in bad_date.value.fields
    assert "截止日期早于执行日期" in reversed_dates.value.message
    assert "另存为 .xlsx 或 CSV" in xls.value.message
    assert _nothing_written() == (0, 0, 0)


@pytest.mark.django_db
def test_an_officer_imports_only_for_their_own_region(outsider_agency):
    """CX art. 7: the prefecture sets its own list; another region's officer cannot."""
    drug = DrugFactory()
    region("420100")

    with pytest.raises(NotFound):
        _import(outsider_agency, _csv(f"{drug.generic_name},,,"))

    assert _nothing_written() == (0, 0, 0)
