"""Each monitoring rule in a small world where it fires and one where it must not, with the
expected numbers worked out by hand [HB art. 47, AH §2(8), CX art. 30]."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib import admin as django_admin
from django.utils import timezone

from dualchannel.catalog.tests.factories import DrugFactory, lung_cancer_set
from dualchannel.eligibility.models import (
    Application,
    ApplicationStatus,
    Eligibility,
    EligibilityStatus,
    Reevaluation,
)
from dualchannel.integration.services.person import platform_person
from dualchannel.inventory.models import MovementKind as K
from dualchannel.monitoring.evidence import evidence_facts
from dualchannel.monitoring.tests.factories import (
    at,
    batch,
    code_in,
    find,
    move,
    prescribe,
    settle,
)
from dualchannel.prescriptions.models import Dispensing
from dualchannel.registry.admin import InsuredPersonAdmin
from dualchannel.registry.models import (
    BenefitStatus,
    BenefitStatusChange,
    InstitutionKind,
    InsuredPerson,
    PolicyProfile,
)
from dualchannel.registry.services import insured_person_record_platform
from dualchannel.registry.services.people import benefit_status_change_record
from dualchannel.registry.tests.factories import (
    InstitutionFactory,
    InsuredPersonFactory,
    PharmacistFactory,
    PhysicianFactory,
    region,
)
from dualchannel.settlement.models import SettlementKind, SettlementLine
from dualchannel.settlement.surveillance import agent_key, robust_z

pytestmark = pytest.mark.django_db
D = Decimal


def wuhan_pharmacy():
    return InstitutionFactory(
        kind=InstitutionKind.PHARMACY, region_code="420102", hospital_level=None
    )


# --- 1. one drug, one person, several pharmacies within the window [CX art. 29–30] ---------------


def test_three_pharmacies_within_thirty_days_fire(pharmacist_user):
    person, drug = InsuredPersonFactory(), DrugFactory()
    shops = [wuhan_pharmacy() for _ in range(3)]
    done = [
        settle(shop, person, pharmacist_user, drug, date(2026, 3, day))
        for shop, day in zip(shops, (1, 10, 20), strict=True)
    ]

    (found,) = find("multi_pharmacy_purchase")

    assert found.institution_id == shops[2].pk
    assert found.evidence["pharmacy_count"] == 3
    assert found.evidence["settlement_ids"] == sorted(s.pk for s in done)


def test_two_pharmacies_or_a_purchase_outside_the_window_do_not_fire(pharmacist_user):
    person, drug = InsuredPersonFactory(), DrugFactory()
    a, b, c = (wuhan_pharmacy() for _ in range(3))
    settle(a, person, pharmacist_user, drug, date(2026, 1, 20))  # 59 days before 3-20
    settle(b, person, pharmacist_user, drug, date(2026, 3, 10))
    settle(c, person, pharmacist_user, drug, date(2026, 3, 20))
    settle(c, person, pharmacist_user, drug, date(2026, 3, 25))

    assert find("multi_pharmacy_purchase") == []


# --- 2. early refill beyond the tolerance that went through [CX art. 27] ------------------------


def test_a_refill_twelve_days_before_the_earliest_day_fires(pharmacist_user, pharmacy):
    person, drug = InsuredPersonFactory(), DrugFactory()
    doctor = PhysicianFactory()
    first = prescribe(doctor, person, drug, pharmacist_user, days=28, on=date(2026, 3, 1))
    second = prescribe(doctor, person, drug, pharmacist_user, days=28, on=date(2026, 3, 10))
    s1 = settle(pharmacy, person, pharmacist_user, drug, date(2026, 3, 1), prescription=first)
    s2 = settle(pharmacy, person, pharmacist_user, drug, date(2026, 3, 10), prescription=second)

    (found,) = find("early_refill_overridden")

    # 3-1 + 28 days = 3-29; tolerance 7 → earliest 3-22; bought 3-10: 12 days early
    assert found.subject == ("settlement.Settlement", s2.pk)
    assert found.evidence["settlement_ids"] == [s1.pk, s2.pk]
    assert (found.evidence["earliest"], found.evidence["days_early"]) == ("2026-03-22", 12)
    # two counter sales the counter would have refused (its tolerance is the national 7 days):
    # the rows came another way
    assert found.evidence["reason"] == "other_path"
    assert found.evidence["counter_tolerance_days"] == 7


def test_an_early_refill_says_why_the_counter_did_not_stop_it(pharmacist_user, pharmacy):
    """The counter refuses an early refill outright (no override): the rule sees what met no
    counter check (a hospital settlement, or a sale after one) or a looser one."""
    doctor = PhysicianFactory()

    def pair(first_kind, second_kind):
        person, drug = InsuredPersonFactory(), DrugFactory()
        first = prescribe(doctor, person, drug, pharmacist_user, days=28, on=date(2026, 3, 1))
        second = prescribe(doctor, person, drug, pharmacist_user, days=28, on=date(2026, 3, 10))
        settle(
            pharmacy,
            person,
            pharmacist_user,
            drug,
            date(2026, 3, 1),
            prescription=first,
            kind=first_kind,
        )
        return settle(
            pharmacy,
            person,
            pharmacist_user,
            drug,
            date(2026, 3, 10),
            prescription=second,
            kind=second_kind,
        ).pk

    at_hospital = pair(SettlementKind.PHARMACY, SettlementKind.HOSPITAL)
    after_hospital = pair(SettlementKind.HOSPITAL, SettlementKind.PHARMACY)
    reasons = {f.subject[1]: f.evidence for f in find("early_refill_overridden")}
    assert reasons[at_hospital]["reason"] == "not_at_counter"
    assert "counter_tolerance_days" not in reasons[at_hospital]
    assert reasons[after_hospital]["reason"] == "previous_not_at_counter"

    # the prescribing hospital lets its patients refill 20 days early: the counter let the sale
    # on 3-10 through (3-29 − 20 = 3-09), this rule's 7 days do not
    PolicyProfile.objects.update_or_create(
        region=region("420000"), defaults={"name": "湖北省", "early_refill_tolerance_days": 20}
    )
    looser = pair(SettlementKind.PHARMACY, SettlementKind.PHARMACY)
    (found,) = [f for f in find("early_refill_overridden") if f.subject[1] == looser]
    assert (found.evidence["reason"], found.evidence["counter_tolerance_days"]) == (
        "looser_tolerance",
        20,
    )
    facts = {f.label: f.items for f in evidence_facts(found.evidence)}
    assert facts["未被柜台拦截的原因"] == [
        ("处方医院允许的提前天数多于本规则，柜台按医院规定放行", "")
    ]


def test_a_refill_within_the_tolerance_does_not_fire(pharmacist_user, pharmacy):
    person, drug = InsuredPersonFactory(), DrugFactory()
    doctor = PhysicianFactory()
    first = prescribe(doctor, person, drug, pharmacist_user, days=28, on=date(2026, 3, 1))
    second = prescribe(doctor, person, drug, pharmacist_user, days=28, on=date(2026, 3, 22))
    settle(pharmacy, person, pharmacist_user, drug, date(2026, 3, 1), prescription=first)
    settle(pharmacy, person, pharmacist_user, drug, date(2026, 3, 22), prescription=second)

    assert find("early_refill_overridden") == []


# --- 3. one agent buying for many unrelated persons [HB art. 24] ---------------------------------


def dispense_by_agent(
    pharmacist, actor, agent_id: str, day: int, relation: str = "", patient=None
) -> Dispensing:
    """An agent's dispensing; ``relation`` "" is one recorded before the counter asked."""
    rx = prescribe(PhysicianFactory(), patient or InsuredPersonFactory(), DrugFactory(), actor)
    return Dispensing.objects.create(
        prescription=rx,
        pharmacy=pharmacist.pharmacy,
        pharmacist=pharmacist,
        actor=actor,
        idempotency_key=f"k-{rx.pk}",
        request_digest="0" * 64,
        certificate_type="02",
        certificate_masked="4201**********1234",
        agent_name="代办人",
        agent_id_number=agent_id,
        agent_relation=relation,
        dispensed_at=at(date(2026, 3, day)),
    )


AGENT = "420102198001011234"


def facts_of(finding) -> dict[str, list[str]]:
    return {f.label: [words for words, _url in f.items] for f in evidence_facts(finding.evidence)}


def test_one_agent_for_three_persons_before_the_relation_was_asked_fires(pharmacist_user, pharmacy):
    # given three dispensings recorded before the counter asked the relation (blank)
    pharmacist = PharmacistFactory(pharmacy=pharmacy)
    done = [dispense_by_agent(pharmacist, pharmacist_user, AGENT, d) for d in (3, 9, 15)]

    (found,) = find("agent_many_patients")

    # then they count (not shown to be family), and the alert says the relation is unknown
    assert found.evidence["patient_count"] == 3
    assert found.evidence["unrecorded_count"] == 3
    assert found.evidence["relation"] == "not_recorded"
    assert found.evidence["dispensing_ids"] == sorted(d.pk for d in done)
    assert found.evidence["agent"] == agent_key(AGENT)
    assert AGENT not in str(found.evidence) and AGENT not in str(found.subject)
    facts = facts_of(found)
    assert facts["代办人与参保人关系"] == [
        "部分或全部发药记录早于关系登记，柜台未登记代办人与参保人的关系，请核实是否为家属代购"
    ]
    assert facts["其中未登记关系的参保人数"] == ["3"]
    assert all(
        w.endswith("：关系未登记（关系登记启用前的发药）")
        for w in facts["代购参保人及代办人声明的关系"]
    )


def test_two_persons_per_agent_do_not_fire(pharmacist_user, pharmacy):
    pharmacist = PharmacistFactory(pharmacy=pharmacy)
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 3, "entrusted")
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 9, "entrusted")
    dispense_by_agent(pharmacist, pharmacist_user, "420102198001015678", 15, "entrusted")

    assert find("agent_many_patients") == []


def test_family_members_are_not_counted(pharmacist_user, pharmacy):
    # given an agent buying for a spouse, a parent, a child and a grandparent, and for two
    # persons entrusted (six patients, two of them not family)
    pharmacist = PharmacistFactory(pharmacy=pharmacy)
    for day, relation in enumerate(["spouse", "parent", "child", "relative"], start=1):
        dispense_by_agent(pharmacist, pharmacist_user, AGENT, day, relation)
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 10, "entrusted")
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 11, "entrusted")

    # then two unrelated patients are below the threshold of three
    assert find("agent_many_patients") == []


def test_three_unrelated_persons_fire_at_the_threshold_and_the_family_is_left_out(
    pharmacist_user, pharmacy
):
    # given three persons entrusted and a spouse, one of the entrusted bought for twice
    pharmacist = PharmacistFactory(pharmacy=pharmacy)
    zhang = InsuredPersonFactory(name="张建国", id_number="420102195001011232")
    entrusted = [
        dispense_by_agent(pharmacist, pharmacist_user, AGENT, 3, "entrusted", patient=zhang),
        dispense_by_agent(pharmacist, pharmacist_user, AGENT, 20, "entrusted", patient=zhang),
        dispense_by_agent(pharmacist, pharmacist_user, AGENT, 5, "entrusted"),
        dispense_by_agent(pharmacist, pharmacist_user, AGENT, 7, "entrusted"),
    ]
    spouse = dispense_by_agent(pharmacist, pharmacist_user, AGENT, 8, "spouse")

    # when the threshold is three (the national default), and then four
    (found,) = find("agent_many_patients")
    assert find("agent_many_patients", min_patients=4) == []

    # then three patients count; the spouse's dispensing is not part of the evidence
    assert found.evidence["patient_count"] == 3
    assert found.evidence["relation"] == "declared"
    assert found.evidence["family_patient_count"] == 1
    assert "unrecorded_count" not in found.evidence
    assert found.evidence["dispensing_ids"] == sorted(d.pk for d in entrusted)
    assert spouse.pk not in found.evidence["dispensing_ids"]
    assert found.evidence["agent_patients"] == sorted(
        [d.prescription.patient_id, "entrusted"] for d in entrusted[1:]
    )
    # in words: the patients masked as elsewhere, each with the declared relation
    facts = facts_of(found)
    assert "张**（420102********1232）：其他（受委托人）" in facts["代购参保人及代办人声明的关系"]
    assert len(facts["代购参保人及代办人声明的关系"]) == 3
    assert "张建国" not in str(facts) and "420102195001011232" not in str(facts)
    assert facts["代购参保人数（不含声明为近亲属的）"] == ["3"]
    assert facts["声明为近亲属代购的参保人数（未计入）"] == ["1"]
    assert facts["代办人与参保人关系"] == [
        "代办人在柜台声明与所列参保人为其他（受委托人），非近亲属"
    ]


def test_old_blank_rows_count_beside_declared_ones(pharmacist_user, pharmacy):
    # given two persons entrusted and one bought for before the relation was asked
    pharmacist = PharmacistFactory(pharmacy=pharmacy)
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 3, "entrusted")
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 4, "entrusted")
    old = dispense_by_agent(pharmacist, pharmacist_user, AGENT, 1)

    (found,) = find("agent_many_patients")

    assert found.evidence["patient_count"] == 3
    assert found.evidence["unrecorded_count"] == 1
    assert found.evidence["relation"] == "not_recorded"
    assert [old.prescription.patient_id, ""] in found.evidence["agent_patients"]
    words = facts_of(found)["代购参保人及代办人声明的关系"]
    assert sum(w.endswith("：其他（受委托人）") for w in words) == 2
    assert sum(w.endswith("：关系未登记（关系登记启用前的发药）") for w in words) == 1


def test_a_declared_family_tie_outweighs_an_old_blank_row_but_not_a_contradiction(
    pharmacist_user, pharmacy
):
    # given patient A: blank (old) then declared a daughter; patient B: declared spouse once and
    # entrusted once; and two persons entrusted
    pharmacist = PharmacistFactory(pharmacy=pharmacy)
    a, b = InsuredPersonFactory(), InsuredPersonFactory()
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 1, "", patient=a)
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 20, "child", patient=a)
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 2, "spouse", patient=b)
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 21, "entrusted", patient=b)
    dispense_by_agent(pharmacist, pharmacist_user, AGENT, 5, "entrusted")

    (found,) = find("agent_many_patients", min_patients=2)

    # then A is family (not counted); B counts as entrusted, with the other entrusted person
    assert found.evidence["patient_count"] == 2
    assert found.evidence["family_patient_count"] == 1
    assert [b.pk, "entrusted"] in found.evidence["agent_patients"]
    assert a.pk not in [p for p, _relation in found.evidence["agent_patients"]]
    assert found.evidence["relation"] == "declared"
    assert find("agent_many_patients") == []  # two unrelated are below the default three


# --- 4. a physician far above the peers for the same drug (robust z) [HB art. 46, AH §2(8)] -----


def test_robust_z_by_hand():
    values = [D(v) for v in (2, 2, 3, 3, 4, 20)]
    # median 3; deviations 1 1 0 0 1 17 → MAD 1; z(20) = 0.6745 × 17 = 11.4665
    assert robust_z(D(20), values) == D("11.4665")
    assert robust_z(D(4), values) == D("0.6745")
    assert robust_z(D(3), [D(3)] * 5) is None


def prescribing(actor, amounts: list[int]):
    drug, doctors = DrugFactory(), []
    for packages in amounts:
        doctor = PhysicianFactory()
        prescribe(doctor, InsuredPersonFactory(), drug, actor, packages=packages)
        doctors.append(doctor)
    return drug, doctors


def test_the_physician_far_above_five_peers_fires(pharmacist_user):
    drug, doctors = prescribing(pharmacist_user, [2, 2, 3, 3, 4, 20])

    (found,) = find("physician_outlier")

    assert found.institution_id == doctors[-1].hospital_id
    assert (found.evidence["physician_id"], found.evidence["drug_id"]) == (doctors[-1].pk, drug.pk)
    assert (found.evidence["robust_z"], found.evidence["peer_count"]) == ("11.47", 6)


def test_too_few_peers_or_no_outlier_do_not_fire(pharmacist_user):
    prescribing(pharmacist_user, [2, 3, 4, 20])  # four physicians < five peers
    prescribing(pharmacist_user, [2, 2, 3, 3, 4, 5])  # z(5) = 0.6745 × 2 / 1 = 1.35

    assert find("physician_outlier") == []


# --- 5. persons whose benefits are suspended or ended [HB art. 23, 47] --------------------------


def test_a_suspended_persons_settlement_fires(pharmacist_user, pharmacy):
    suspended = InsuredPersonFactory(benefit_status=BenefitStatus.SUSPENDED)
    done = settle(pharmacy, suspended, pharmacist_user, DrugFactory(), date(2026, 3, 5))

    (found,) = find("benefit_status_purchase")

    assert found.evidence == {
        "benefit_status": "suspended",
        "settlement_ids": [done.pk],
        "institution_ids": [pharmacy.pk],
    }


def test_a_normal_persons_settlement_or_another_month_does_not_fire(pharmacist_user, pharmacy):
    settle(pharmacy, InsuredPersonFactory(), pharmacist_user, DrugFactory(), date(2026, 3, 5))
    ended = InsuredPersonFactory(benefit_status=BenefitStatus.TERMINATED)
    settle(pharmacy, ended, pharmacist_user, DrugFactory(), date(2026, 2, 27))

    assert find("benefit_status_purchase") == []


def _status_changed(person, was, now, on):
    """The registry learns a change of ``person``'s status effective ``on``."""
    person.benefit_status = now
    person.save(update_fields=["benefit_status"])
    benefit_status_change_record(person, was, actor=None, since=on)


def test_the_status_on_the_day_of_the_settlement_decides(pharmacist_user, pharmacy):
    N, S, T = BenefitStatus.NORMAL, BenefitStatus.SUSPENDED, BenefitStatus.TERMINATED
    # died on 3-10: the purchase of 3-05 was his own, the one of 3-15 is not
    died = InsuredPersonFactory()
    settle(pharmacy, died, pharmacist_user, DrugFactory(), date(2026, 3, 5))
    after_death = settle(pharmacy, died, pharmacist_user, DrugFactory(), date(2026, 3, 15))
    _status_changed(died, N, T, date(2026, 3, 10))
    # bought on 3-05, died on 3-20: ended today, but not on the day he bought
    later = InsuredPersonFactory()
    settle(pharmacy, later, pharmacist_user, DrugFactory(), date(2026, 3, 5))
    _status_changed(later, N, T, date(2026, 3, 20))
    # suspended from 2-20 to 3-10: normal today, suspended when buying on 3-05
    paused = InsuredPersonFactory()
    while_paused = settle(pharmacy, paused, pharmacist_user, DrugFactory(), date(2026, 3, 5))
    settle(pharmacy, paused, pharmacist_user, DrugFactory(), date(2026, 3, 12))
    _status_changed(paused, N, S, date(2026, 2, 20))
    _status_changed(paused, S, N, date(2026, 3, 10))

    # known only by its end: restored on 3-08 (suspended before, no earlier change recorded)
    restored = InsuredPersonFactory(benefit_status=S)
    before_restored = settle(pharmacy, restored, pharmacist_user, DrugFactory(), date(2026, 3, 6))
    _status_changed(restored, S, N, date(2026, 3, 8))

    found = {f.subject[1].split(":")[0]: f.evidence for f in find("benefit_status_purchase")}

    assert found == {
        str(died.pk): {
            "benefit_status": "terminated",
            "settlement_ids": [after_death.pk],
            "institution_ids": [pharmacy.pk],
        },
        str(paused.pk): {
            "benefit_status": "suspended",
            "settlement_ids": [while_paused.pk],
            "institution_ids": [pharmacy.pk],
        },
        str(restored.pk): {
            "benefit_status": "suspended",
            "settlement_ids": [before_restored.pk],
            "institution_ids": [pharmacy.pk],
        },
    }


def test_the_platforms_pause_date_dates_the_change(pharmacist_user, pharmacy, agency_user):
    person = InsuredPersonFactory()
    before = settle(pharmacy, person, pharmacist_user, DrugFactory(), date(2026, 3, 5))
    paused = settle(pharmacy, person, pharmacist_user, DrugFactory(), date(2026, 3, 9))
    answer = {
        "baseinfo": {
            "psn_no": person.person_no,
            "certno": person.id_number,
            "psn_name": person.name,
        },
        "insuinfo": [
            {
                "insutype": person.insurance_type,
                "psn_insu_stas": "1",
                "insuplc_admdvs": person.enrolment_region_id,
                "paus_insu_date": "2026-03-08",
            }
        ],
    }
    insured_person_record_platform(
        actor=agency_user,
        data=platform_person(answer, id_number=person.id_number, name=person.name),
    )

    change = BenefitStatusChange.objects.get(person=person)
    assert (change.from_status, change.to_status, change.effective_on) == (
        "normal",
        "suspended",
        date(2026, 3, 8),
    )
    (found,) = find("benefit_status_purchase")
    assert found.evidence["settlement_ids"] == [paused.pk]
    assert before.pk not in found.evidence["settlement_ids"]


# --- 6–7. trace codes: sold twice, sold before receipt [CX art. 14(3)] ---------------------------


def test_a_code_sold_twice_fires(pharmacy):
    item = batch(pharmacy, DrugFactory())
    code = code_in(item, 1)
    move(item, K.PURCHASE, 1, date(2026, 3, 1), codes=[code])
    move(item, K.SALE, -1, date(2026, 3, 2), codes=[code])
    again = move(item, K.SALE, -1, date(2026, 3, 9), codes=[code])

    (found,) = find("trace_code_resold")

    assert found.evidence["trace_code"] == code.code
    assert found.evidence["sale_count"] == 2
    assert found.evidence["movement_ids"][-1] == again.pk


def test_a_code_sold_returned_and_sold_again_does_not_fire(pharmacy):
    item = batch(pharmacy, DrugFactory())
    code = code_in(item, 2)
    move(item, K.PURCHASE, 1, date(2026, 3, 1), codes=[code])
    move(item, K.SALE, -1, date(2026, 3, 2), codes=[code])
    move(item, K.SALE_RETURN, 1, date(2026, 3, 3), codes=[code])
    move(item, K.SALE, -1, date(2026, 3, 9), codes=[code])

    assert find("trace_code_resold") == []


def test_a_code_sold_before_its_receipt_fires(pharmacy):
    item = batch(pharmacy, DrugFactory())
    early, fine = code_in(item, 3), code_in(item, 4)
    move(item, K.PURCHASE, 1, date(2026, 3, 1), codes=[fine])
    move(item, K.SALE, -2, date(2026, 3, 5), codes=[early, fine])
    move(item, K.PURCHASE, 1, date(2026, 3, 8), codes=[early])

    (found,) = find("trace_code_out_of_sequence")

    assert found.institution_id == pharmacy.pk
    assert (found.evidence["trace_codes"], found.evidence["code_count"]) == ([early.code], 1)


def test_codes_received_before_their_sale_do_not_fire(pharmacy):
    item = batch(pharmacy, DrugFactory())
    code = code_in(item, 5)
    move(item, K.PURCHASE, 1, date(2026, 3, 1), codes=[code])
    move(item, K.SALE, -1, date(2026, 3, 5), codes=[code])

    assert find("trace_code_out_of_sequence") == []


# --- 8. stock that does not balance [SD §9] -------------------------------------------------------


def test_sales_without_receipts_fire(pharmacy):
    item = batch(pharmacy, DrugFactory())
    move(item, K.STOCKTAKE, 5, date(2026, 3, 1))
    move(item, K.SALE, -3, date(2026, 3, 4))

    (found,) = find("stock_unbalanced")

    assert found.subject == ("inventory.StockItem", item.pk)
    assert (found.evidence["received"], found.evidence["sold"]) == (0, 3)
    assert found.evidence["adjusted"] == 5


def test_sales_covered_by_receipts_do_not_fire(pharmacy):
    item = batch(pharmacy, DrugFactory())
    move(item, K.PURCHASE, 5, date(2026, 2, 20))
    move(item, K.SALE, -3, date(2026, 3, 4))
    move(item, K.SALE_RETURN, 1, date(2026, 3, 5))

    assert find("stock_unbalanced") == []


# --- 9. prices above the payment standard [CX art. 26, HB art. 30] -------------------------------


def test_a_line_sold_above_the_standard_fires(pharmacist_user, pharmacy):
    done = settle(
        pharmacy, InsuredPersonFactory(), pharmacist_user, DrugFactory(), date(2026, 3, 3)
    )
    SettlementLine.objects.filter(settlement=done).update(over_standard=D("12.00"))
    other = settle(
        pharmacy, InsuredPersonFactory(), pharmacist_user, DrugFactory(), date(2026, 3, 3)
    )
    SettlementLine.objects.filter(settlement=other).update(over_standard=D("0.50"))

    (found,) = find("price_over_standard", tolerance_amount=D("1.00"))

    assert found.subject == ("settlement.Settlement", done.pk)
    assert found.evidence["over_standard"] == "12.00"


def test_lines_within_the_standard_do_not_fire(pharmacist_user, pharmacy):
    settle(pharmacy, InsuredPersonFactory(), pharmacist_user, DrugFactory(), date(2026, 3, 3))

    assert find("price_over_standard") == []


# --- 10–11. the review clock [HB art. 9–10, 48] ---------------------------------------------------


def application(hospital, actor, *, complete_on: date, decided_on: date | None) -> Application:
    doctor = PhysicianFactory(hospital=hospital)
    drug = DrugFactory()
    return Application.objects.create(
        application_no=f"SQ{Application.objects.count() + 1:08d}",
        patient=InsuredPersonFactory(),
        drug=drug,
        diagnosis_code="C34.900",
        diagnosis_name="肺癌",
        hospital=hospital,
        physician=doctor,
        criteria_set=lung_cancer_set(drug=drug),
        status=ApplicationStatus.APPROVED if decided_on else ApplicationStatus.UNDER_REVIEW,
        created_by=actor,
        complete_on=complete_on,
        decided_at=at(decided_on) if decided_on else None,
    )


def test_a_review_decided_after_seven_working_days_fires(hospital, reviewer_user):
    # complete Mon 2026-03-02 → due the 7th working day after: Wed 2026-03-11
    late = application(
        hospital, reviewer_user, complete_on=date(2026, 3, 2), decided_on=date(2026, 3, 12)
    )
    waiting = application(hospital, reviewer_user, complete_on=date(2026, 3, 9), decided_on=None)

    found = find("review_overdue")

    assert [f.subject for f in found] == [
        ("eligibility.Application", late.pk),
        ("eligibility.Application", waiting.pk),  # due 3-18, undecided at 3-31
    ]
    assert (found[0].evidence["due"], found[0].evidence["decided_on"]) == (
        "2026-03-11",
        "2026-03-12",
    )


def test_a_review_decided_on_the_seventh_working_day_does_not_fire(hospital, reviewer_user):
    application(hospital, reviewer_user, complete_on=date(2026, 3, 2), decided_on=date(2026, 3, 11))
    application(hospital, reviewer_user, complete_on=date(2026, 3, 25), decided_on=None)  # due 4-3

    assert find("review_overdue") == []


def reevaluation(hospital, actor, *, complete_by: date, completed_on: date | None):
    app = application(hospital, actor, complete_on=date(2025, 6, 2), decided_on=date(2025, 6, 5))
    eligibility = Eligibility.objects.create(
        application=app,
        patient=app.patient,
        drug=app.drug,
        hospital=hospital,
        physician=app.physician,
        status=EligibilityStatus.IN_REEVALUATION,
        effective_from=date(2025, 6, 5),
        plan_total_quantity=D(100),
    )
    return Reevaluation.objects.create(
        eligibility=eligibility,
        due_date=complete_by - timedelta(days=10),
        complete_by=complete_by,
        started_at=at(complete_by - timedelta(days=14)),
        started_by=actor,
        physician=app.physician,
        completed_at=at(completed_on) if completed_on else None,
    )


def test_a_reevaluation_past_its_date_fires(hospital, reviewer_user):
    overdue = reevaluation(
        hospital, reviewer_user, complete_by=date(2026, 3, 10), completed_on=None
    )

    (found,) = find("reevaluation_overdue")

    assert found.subject == ("eligibility.Reevaluation", overdue.pk)
    assert found.evidence["complete_by"] == "2026-03-10"


def test_a_reevaluation_completed_in_time_or_within_grace_does_not_fire(hospital, reviewer_user):
    reevaluation(
        hospital, reviewer_user, complete_by=date(2026, 3, 10), completed_on=date(2026, 3, 9)
    )
    reevaluation(hospital, reviewer_user, complete_by=date(2026, 3, 28), completed_on=None)

    assert find("reevaluation_overdue", grace_days=5) == []


# --- 12. a pharmacy settling above its stock's throughput [AH §2(8), SD §9] ----------------------


def test_settling_six_boxes_with_no_sale_fires(pharmacist_user, pharmacy):
    drug = DrugFactory()
    settle(pharmacy, InsuredPersonFactory(), pharmacist_user, drug, date(2026, 3, 3), quantity=6)

    (found,) = find("pharmacy_over_throughput")

    assert (found.evidence["settled_boxes"], found.evidence["sold_boxes"]) == (6, 0)


def test_settling_what_left_the_stock_does_not_fire(pharmacist_user, pharmacy):
    drug = DrugFactory()
    settle(pharmacy, InsuredPersonFactory(), pharmacist_user, drug, date(2026, 3, 3), quantity=6)
    move(batch(pharmacy, drug), K.SALE, -5, date(2026, 3, 3))  # 6 ≤ 1.20 × 5

    assert find("pharmacy_over_throughput") == []


# --- 13. drugs outside their agreement period [SD §1, HB art. 47] -------------------------------


def test_a_settlement_after_the_agreement_ended_fires(pharmacist_user, pharmacy):
    ended = DrugFactory(agreement_end=date(2026, 2, 28))
    done = settle(pharmacy, InsuredPersonFactory(), pharmacist_user, ended, date(2026, 3, 2))

    (found,) = find("outside_agreement_period")

    assert found.evidence == {
        "settlement_ids": [done.pk],
        "drug_id": ended.pk,
        "agreement_end": "2026-02-28",
        "settled_on": "2026-03-02",
    }


def test_a_settlement_within_the_period_or_grace_does_not_fire(pharmacist_user, pharmacy):
    current = DrugFactory(agreement_end=date(2026, 12, 31))
    settle(pharmacy, InsuredPersonFactory(), pharmacist_user, current, date(2026, 3, 2))
    ended = DrugFactory(agreement_end=date(2026, 2, 28))
    settle(pharmacy, InsuredPersonFactory(), pharmacist_user, ended, date(2026, 3, 2))

    assert find("outside_agreement_period", grace_days=3) == []


def test_a_status_changed_in_the_back_office_is_dated_from_that_day(
    pharmacist_user, pharmacy, admin_user, rf
):
    person = InsuredPersonFactory()
    settle(pharmacy, person, pharmacist_user, DrugFactory(), date(2026, 3, 5))
    request = rf.post("/admin/")
    request.user = admin_user
    person.benefit_status = BenefitStatus.TERMINATED
    InsuredPersonAdmin(InsuredPerson, django_admin.site).save_model(request, person, None, True)

    change = BenefitStatusChange.objects.get(person=person)
    assert (change.from_status, change.to_status, change.actor) == (
        "normal",
        "terminated",
        admin_user,
    )
    assert change.effective_on == timezone.localdate()
    assert find("benefit_status_purchase") == []  # ended after the March purchase
