"""A hand-computed world for the statistics and their rollups (issue 13 §1), 济南市 2026.

Settlements (amounts in yuan; the payers sum to the total):

- S1 历下 pharmacy P1, person A (310), 2026-03-03, physician 王 of hospital H1: 甲 2 × 300.00 =
  600.00 and 丙 1 × 100.00 = 100.00; total 700.00 = fund 490.00 + critical illness 35.00 +
  assistance 0 + commercial 5.00 + personal 170.00.
- S2 历下 P1, person B (390), 2026-03-20, no prescription: 甲 1 × 300.00; fund 150.00,
  assistance 30.00, personal 120.00.
- S3 平阴 pharmacy P5, person A (310), 2026-03-25, physician 王: 甲 1 × 300.00; fund 210.00,
  personal 90.00; reversed (after the first refresh in the tests that say so).
- S4 平阴 P5, person B (390), 2026-04-02: 丙 1 × 100.00; fund 50.00, personal 50.00.

Split of S1's payers over its drugs (weights 600 : 100, largest remainder, ties to the first):
fund 420.00 / 70.00, critical illness 30.00 / 5.00, commercial 4.29 / 0.71 (500 fen: 428 r4,
71 r3, the fen left to 甲), personal 145.71 / 24.29 (17000 fen: 14571 r3, 2428 r4, to 丙).
"""

from __future__ import annotations

import random
import uuid
from datetime import date
from decimal import Decimal

from dualchannel.analytics import rollups
from dualchannel.prescriptions.models import BenefitType, Prescription
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.tests.factories import InsuredPersonFactory, PhysicianFactory
from dualchannel.settlement.models import (
    BudgetLine,
    Settlement,
    SettlementKind,
    SettlementLine,
    SettlementStatus,
)
from dualchannel.settlement.tests.factories import benefit_rule

from .factories import at, build_world, pharmacy

D = Decimal


def settlement(
    institution,
    person,
    actor,
    *,
    on: date,
    lines: list[tuple[object, int, str]],
    payers: dict[str, str],
    physician=None,
    insurance: str = "310",
) -> Settlement:
    """A live settlement with explicit amounts: ``lines`` as (drug, quantity, unit price)."""
    rule = benefit_rule(institution.region_id[:4] + "00")
    total = sum((D(price) * qty for _, qty, price in lines), D(0))
    amounts = {name: D(payers.get(name, "0")) for name in ("fund", "critical_illness")}
    amounts |= {name: D(payers.get(name, "0")) for name in ("assistance", "commercial")}
    amounts["personal"] = total - sum(amounts.values(), D(0))
    prescription = None
    if physician is not None:
        prescription = Prescription.objects.create(
            prescription_no=uuid.uuid4().hex[:20],
            patient=person,
            hospital=physician.hospital,
            physician=physician,
            benefit_type=BenefitType.CHRONIC_DISEASE,
            diagnosis_code="C34.900",
            diagnosis_name="肺恶性肿瘤",
            valid_days=3,
            valid_until=on,
            created_by=actor,
        )
    row = Settlement.objects.create(
        settlement_no=f"JS-S-{uuid.uuid4().hex[:12]}",
        kind=SettlementKind.PHARMACY,
        institution=institution,
        person=person,
        prescription=prescription,
        category=rule.category,
        insurance_type=insurance,
        med_type=rule.med_type,
        rule=rule,
        parameters={},
        scopes={},
        budget_line=BudgetLine.PHARMACY_SEPARATE,
        settled_on=on,
        used={},
        idempotency_key=uuid.uuid4().hex,
        request_digest="0" * 64,
        settled_by=actor,
        total=total,
        full_self_pay=D(0),
        over_standard=D(0),
        payable_base=total,
        first_self_pay=D(0),
        in_policy=total,
        deductible=D(0),
        co_pay=amounts["personal"],
        over_ceiling=D(0),
        **amounts,
    )
    for position, (drug, quantity, price) in enumerate(lines, 1):
        SettlementLine.objects.create(
            settlement=row,
            position=position,
            drug=drug,
            drug_class="乙",
            quantity=quantity,
            unit="盒",
            unit_price=D(price),
            amount=D(price) * quantity,
            full_self_pay=D(0),
            over_standard=D(0),
            payable_base=D(price) * quantity,
            first_self_pay=D(0),
            in_policy=D(price) * quantity,
        )
    return row


def reverse(row: Settlement) -> None:
    """The reversal as the counter leaves it (status and time; the rollups read only those)."""
    Settlement.objects.filter(pk=row.pk).update(
        status=SettlementStatus.REVERSED, reversed_at=at(2026, 3, 28, 10)
    )


# settlement days over the turn of a year, for the random worlds
DAYS = (
    *(date(2025, 11, 20), date(2025, 12, 3), date(2025, 12, 28), date(2026, 1, 9)),
    *(date(2026, 2, 14), date(2026, 3, 3), date(2026, 4, 2)),
)


def settle_at_random(
    w: dict, places: list, persons: list, *, count: int, seed: int, physicians=None
) -> None:
    """``count`` settlements of random places, persons, days (``DAYS``), one to three lines of
    random drugs, insurance types and (given ``physicians``, None among them for none)
    prescribing physicians; the first 6 reversed before their refresh, the 21st to 32nd after
    it (refreshed in batches of 25, then of 9)."""
    drugs = list(w["drugs"].values())
    rng = random.Random(seed)
    made = []
    for n in range(count):
        on = rng.choice(DAYS)
        lines = [(rng.choice(drugs), 1, rng.choice(("10.00", "3.33"))) for _ in range(1 + n % 3)]
        place, person = rng.choice(places), rng.choice(persons)
        made.append(
            settlement(
                place,
                person,
                w["lixia_officer"],
                on=on,
                lines=lines,
                payers={"fund": "1.00"},
                physician=rng.choice(physicians) if physicians else None,
                insurance=rng.choice(("310", "390")),
            )
        )
    for row in made[:6]:
        reverse(row)
    rollups.refresh(limit=25)
    for row in made[20:32]:
        reverse(row)
    rollups.refresh_all(limit=9)


def build_stats_world() -> dict:
    world = build_world()
    d = world["drugs"]
    p1 = pharmacy(world["lixia"], [(at(2026, 1, 5, 9), "active")], realtime=True, e_rx=True)
    p5 = pharmacy(world["pingyin"], [(at(2026, 1, 5, 9), "active")], realtime=True)
    h1 = pharmacy(world["lixia"], [(at(2026, 1, 5, 9), "active")], kind=InstitutionKind.HOSPITAL)
    wang = PhysicianFactory(hospital=h1, name="王医生")
    a = InsuredPersonFactory(region_code="370102", name="甲患者")
    b = InsuredPersonFactory(region_code="370102", name="乙患者", insurance_type="390")
    actor = world["lixia_officer"]
    s1 = settlement(
        p1,
        a,
        actor,
        on=date(2026, 3, 3),
        lines=[(d["甲"], 2, "300.00"), (d["丙"], 1, "100.00")],
        payers={"fund": "490.00", "critical_illness": "35.00", "commercial": "5.00"},
        physician=wang,
    )
    s2 = settlement(
        p1,
        b,
        actor,
        on=date(2026, 3, 20),
        lines=[(d["甲"], 1, "300.00")],
        payers={"fund": "150.00", "assistance": "30.00"},
        insurance="390",
    )
    s3 = settlement(
        p5,
        a,
        actor,
        on=date(2026, 3, 25),
        lines=[(d["甲"], 1, "300.00")],
        payers={"fund": "210.00"},
        physician=wang,
    )
    s4 = settlement(
        p5,
        b,
        actor,
        on=date(2026, 4, 2),
        lines=[(d["丙"], 1, "100.00")],
        payers={"fund": "50.00"},
        insurance="390",
    )
    return world | {
        "p1": p1,
        "p5": p5,
        "h1": h1,
        "wang": wang,
        "a": a,
        "b": b,
        "s1": s1,
        "s2": s2,
        "s3": s3,
        "s4": s4,
    }
