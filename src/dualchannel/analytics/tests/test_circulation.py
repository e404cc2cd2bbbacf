"""The circulation rollup (issue 13 §1, §6): prescriptions issued and routed, counted by month
× the issuing hospital's county, and dispensings by month × the dispensing institution's county;
taken in by the rollups' refresh from markers on the rows (issuing, routing and dispensing write
nothing more), equal to detail, rebuilt from it."""

from __future__ import annotations

import uuid
from datetime import date

from django.db.models import F
from django.utils import timezone

from dualchannel.analytics import rollups
from dualchannel.analytics.models import CirculationRollup
from dualchannel.prescriptions.models import BenefitType, Dispensing, Prescription
from dualchannel.registry.tests.factories import PharmacistFactory

from .factories import at

LIXIA, PINGYIN = "370102", "370124"
MARCH, APRIL, MAY = date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)


def issue(world, issued_at, routed_at=None) -> Prescription:
    return Prescription.objects.create(
        prescription_no=uuid.uuid4().hex[:20],
        patient=world["a"],
        hospital=world["h1"],
        physician=world["wang"],
        benefit_type=BenefitType.CHRONIC_DISEASE,
        diagnosis_code="C34.900",
        diagnosis_name="肺恶性肿瘤",
        issued_at=issued_at,
        valid_days=3,
        valid_until=issued_at.date(),
        routed_at=routed_at,
        pharmacy=world["p1"] if routed_at else None,
        created_by=world["lixia_officer"],
    )


def dispense(world, prescription, pharmacy, dispensed_at) -> Dispensing:
    return Dispensing.objects.create(
        prescription=prescription,
        pharmacy=pharmacy,
        pharmacist=PharmacistFactory(pharmacy=pharmacy),
        actor=world["lixia_officer"],
        idempotency_key=uuid.uuid4().hex,
        request_digest="0" * 64,
        certificate_type="02",
        certificate_masked="3701**********0011",
        dispensed_at=dispensed_at,
    )


def rows() -> dict:
    return {
        (r.month, r.county_id): (r.issued, r.routed, r.dispensed)
        for r in CirculationRollup.objects.all()
    }


def test_refresh_counts_issued_routed_and_dispensed_by_month_and_county(stats_world):
    w = stats_world
    # the world's two prescriptions (S1, S3) were issued now
    this_month = timezone.localdate().replace(day=1)
    # A: issued on March's last evening, routed just after midnight (Shanghai time: April)
    a = issue(w, at(2026, 3, 31, 23, 30), routed_at=at(2026, 4, 1, 0, 10))
    dispense(w, a, w["p5"], at(2026, 4, 2, 10))  # at 平阴's pharmacy
    # B: issued in March, not routed yet
    b = issue(w, at(2026, 3, 5, 9))

    result = rollups.refresh()

    assert (result.issued, result.routed, result.dispensings) == (4, 1, 1)
    assert rows() == {
        (this_month, LIXIA): (2, 0, 0),
        (MARCH, LIXIA): (2, 0, 0),
        (APRIL, LIXIA): (0, 1, 0),  # counted where it was issued from
        (APRIL, PINGYIN): (0, 0, 1),  # and dispensed where it was dispensed
    }
    assert rollups.rollup_differences() == []

    # B is routed in May (as the routing writes it): the next refresh counts it as routed only
    Prescription.objects.filter(pk=b.pk).update(routed_at=at(2026, 5, 3, 9), pharmacy=w["p1"])
    result = rollups.refresh()

    assert (result.issued, result.routed, result.dispensings) == (0, 1, 0)
    assert rows()[(MAY, LIXIA)] == (0, 1, 0)
    assert rows()[(MARCH, LIXIA)] == (2, 0, 0)
    assert rollups.rollup_differences() == []
    # nothing new: nothing taken in, nothing counted twice
    again = rollups.refresh()
    assert (again.issued, again.routed, again.dispensings) == (0, 0, 0)
    assert rows()[(MAY, LIXIA)] == (0, 1, 0)


def test_a_refresh_takes_at_most_its_limit_and_refresh_all_the_rest(stats_world):
    w = stats_world
    for day in range(1, 6):
        issue(w, at(2026, 3, day, 9), routed_at=at(2026, 3, day, 10))

    first = rollups.refresh(limit=3)
    assert first.issued == 3 and first.full(3)
    total = rollups.refresh_all(limit=3)

    assert total.issued == 4  # the 2 left of March's and the world's 2
    assert rows()[(MARCH, LIXIA)] == (5, 5, 0)
    assert rollups.rollup_differences() == []


def test_rebuild_recomputes_the_same_rows_from_detail(stats_world):
    w = stats_world
    a = issue(w, at(2026, 3, 9, 9), routed_at=at(2026, 3, 9, 9, 30))
    dispense(w, a, w["p1"], at(2026, 3, 10, 15))
    rollups.refresh_all()
    before = rows()

    CirculationRollup.objects.update(issued=F("issued") + 7)  # spoiled
    assert any(d.startswith("circulation ") for d in rollups.rollup_differences())
    rollups.rebuild()

    assert rows() == before
    assert rows()[(MARCH, LIXIA)] == (1, 1, 1)
    assert rollups.rollup_differences() == []
