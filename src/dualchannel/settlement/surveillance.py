"""Smart-monitoring detectors over purchases, prescriptions and settlements [HB art. 47,
AH §2(8), CX art. 30]. Each reads the database for one region and period (``monitoring.engine
.Scope``) and returns findings whose evidence holds ids, codes and counts only. They live here,
the highest domain app, because they read settlements with the prescriptions, dispensings and
persons behind them; ``apps.SettlementConfig.ready`` hands them down to the engine. The stock,
trace-code and review-clock detectors are in ``surveillance_stock``."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from statistics import median

from django.db.models import Q, QuerySet
from django.utils.crypto import salted_hmac

from dualchannel.inventory.surveillance import sold_boxes
from dualchannel.monitoring.engine import Finding, Scope, monitoring_follow
from dualchannel.prescriptions.models import (
    FAMILY_RELATIONS,
    Dispensing,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)
from dualchannel.prescriptions.rules import refill_tolerance_days
from dualchannel.registry.models import BenefitStatus, BenefitStatusChange
from dualchannel.registry.profiles import profile_of

from .models import Settlement, SettlementKind, SettlementLine, SettlementStatus

EVIDENCE_IDS_MAX = 50
# Rules a settlement (and the sale behind it) can trip, run (queued) right after it commits;
# the physicians' comparison with their peers is a monthly picture, left to the nightly run.
SETTLEMENT_RULES = (
    "trace_code_resold",
    "trace_code_out_of_sequence",
    "stock_unbalanced",
    "multi_pharmacy_purchase",
    "early_refill_overridden",
    "agent_many_patients",
    "benefit_status_purchase",
    "price_over_standard",
    "outside_agreement_period",
    "pharmacy_over_throughput",
)
MAD_SCALE = Decimal("0.6745")  # robust z = 0.6745 (x − median) / MAD (Iglewicz & Hoaglin)
MEAN_AD_SCALE = Decimal("1.253314")  # MAD = 0: the mean absolute deviation stands in


def month_key(day: date) -> str:
    return f"{day:%Y-%m}"


def ids(values) -> list[int]:
    return sorted(set(values))[:EVIDENCE_IDS_MAX]


def live_settlements(scope: Scope, start: date | None = None) -> QuerySet[Settlement]:
    """Live settlements of the region's institutions settled in the period (or from ``start``)."""
    return Settlement.objects.filter(
        status=SettlementStatus.SETTLED,
        institution__region__code__startswith=scope.prefix,
        settled_on__gte=start or scope.start,
        settled_on__lte=scope.end,
    )


def settlement_follow(settlement: Settlement) -> None:
    """Queue the event-driven rules once the settlement commits (the counter stays fast)."""
    monitoring_follow(
        region_code=settlement.institution.region_id,
        keys=list(SETTLEMENT_RULES),
        day=settlement.settled_on,
        event=f"settlement:{settlement.pk}",
    )


# --- purchases of one drug by one person -------------------------------------------------------


def _purchases(scope: Scope, start: date) -> dict[tuple[int, int], list[tuple]]:
    """(person, drug) → [(settled_on, settlement id, institution id, prescription id)] by date."""
    rows = (
        SettlementLine.objects.filter(
            settlement__in=live_settlements(scope, start), drug__isnull=False
        )
        .values_list(
            "settlement__person_id",
            "drug_id",
            "settlement__settled_on",
            "settlement_id",
            "settlement__institution_id",
            "settlement__prescription_id",
            "settlement__kind",
        )
        .order_by("settlement__settled_on", "settlement_id")
    )
    found: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for person, drug, on, sid, inst, rx, kind in rows:
        found[(person, drug)].append((on, sid, inst, rx, kind))
    return found


def multi_pharmacy_purchase(scope: Scope) -> list[Finding]:
    """One person bought one drug at ``min_pharmacies`` or more pharmacies within
    ``window_days`` [CX art. 29–30]."""
    window = int(scope.params.get("window_days", 30))
    wanted = int(scope.params.get("min_pharmacies", 3))
    findings = []
    for (person, drug), buys in _purchases(scope, scope.start - timedelta(days=window)).items():
        buys = [b for b in buys if b[4] == SettlementKind.PHARMACY]
        for on, _sid, inst, _rx, _kind in reversed(buys):
            if on < scope.start:
                break
            inside = [b for b in buys if on - timedelta(days=window) < b[0] <= on]
            pharmacies = {b[2] for b in inside}
            if len(pharmacies) >= max(wanted, 1):
                findings.append(
                    Finding(
                        inst,
                        ("person_drug_month", f"{person}:{drug}:{month_key(on)}"),
                        {
                            "drug_id": drug,
                            "pharmacy_ids": ids(pharmacies),
                            "pharmacy_count": len(pharmacies),
                            "settlement_ids": ids(b[1] for b in inside),
                            "window_days": window,
                        },
                    )
                )
                break  # the latest window of the month speaks for the month
    return findings


def _supply_days(prescription_ids: set[int]) -> dict[tuple[int, int], int]:
    rows = PrescriptionItem.objects.filter(prescription_id__in=prescription_ids).values_list(
        "prescription_id", "drug_id", "days"
    )
    return {(rx, drug): days for rx, drug, days in rows}


# Why an early refill got past the pharmacy counter (evidence ``reason``; words in
# ``monitoring.evidence``).
REFILL_NOT_AT_COUNTER = "not_at_counter"  # this purchase was not a pharmacy counter sale
REFILL_PREVIOUS_NOT_AT_COUNTER = "previous_not_at_counter"  # the last one was not
REFILL_LOOSER_TOLERANCE = "looser_tolerance"  # the prescribing hospital allows more days early
REFILL_OTHER_PATH = "other_path"  # none of these: the rows came another way


def _counter_tolerance(prescription_ids: set[int]) -> dict[int, int]:
    """prescription → the early-refill tolerance the counter applied to it (its hospital's)."""
    found: dict[int, int] = {}
    hospitals: dict[int, int] = {}
    rows = Prescription.objects.filter(pk__in=prescription_ids).select_related("hospital")
    for rx in rows:
        if rx.hospital_id not in hospitals:
            hospitals[rx.hospital_id] = refill_tolerance_days(profile_of(rx.hospital))
        found[rx.pk] = hospitals[rx.hospital_id]
    return found


def early_refill_overridden(scope: Scope) -> list[Finding]:
    """A purchase of a drug while the previous purchase's supply had more than
    ``tolerance_days`` left [CX art. 27].

    What it catches, exactly: the pharmacy counter refuses such a refill outright, with the
    prescribing hospital's tolerance, against the patient's earlier pharmacy dispensings
    (``prescriptions.services.counter_checks.refill_checks``); no one can override that refusal
    at the counter. So this rule finds the early refills that never met that check or met a
    looser one, and says which in ``reason``: a purchase settled at a hospital or reimbursed by
    hand (not at a counter), a counter sale following such a purchase (the counter compares
    with dispensings only), a counter sale allowed because the hospital's tolerance is wider
    than this rule's, or rows written another way (an import, a corrected record). Refusals
    the counter gave are not alerts here: they are refused, nothing was bought."""
    tolerance = int(scope.params.get("tolerance_days", 7))
    purchases = _purchases(scope, scope.start - timedelta(days=400))
    days = _supply_days({b[3] for buys in purchases.values() for b in buys if b[3]})
    early: list[tuple[int, tuple, tuple, date, date]] = []
    for (_person, drug), buys in purchases.items():
        for previous, current in pairwise(buys):
            if current[0] < scope.start or previous[3] is None:
                continue
            supply = days.get((previous[3], drug))
            if supply is None:
                continue
            runs_out = previous[0] + timedelta(days=supply)
            earliest = runs_out - timedelta(days=tolerance)
            if current[0] < earliest:
                early.append((drug, previous, current, runs_out, earliest))
    counter = _counter_tolerance({c[3] for _d, _p, c, _r, _e in early if c[3]})
    findings = []
    for drug, previous, current, runs_out, earliest in early:
        allowed = counter.get(current[3]) if current[3] else None
        if current[4] != SettlementKind.PHARMACY:
            reason = REFILL_NOT_AT_COUNTER
        elif previous[4] != SettlementKind.PHARMACY:
            reason = REFILL_PREVIOUS_NOT_AT_COUNTER
        elif allowed is not None and current[0] >= runs_out - timedelta(days=allowed):
            reason = REFILL_LOOSER_TOLERANCE
        else:
            reason = REFILL_OTHER_PATH
        evidence = {
            "drug_id": drug,
            "settlement_ids": [previous[1], current[1]],
            "previous_on": previous[0].isoformat(),
            "runs_out": runs_out.isoformat(),
            "earliest": earliest.isoformat(),
            "purchased_on": current[0].isoformat(),
            "days_early": (earliest - current[0]).days,
            "reason": reason,
        }
        if allowed is not None and current[4] == SettlementKind.PHARMACY:
            evidence["counter_tolerance_days"] = allowed
        findings.append(Finding(current[2], ("settlement.Settlement", current[1]), evidence))
    return findings


def agent_key(agent_id_number: str) -> str:
    """A stable handle of an agent that cannot be reversed without the server's secret (a plain
    hash of an ID number could be found by trying birth dates): the ID number never leaves the
    dispensing row."""
    keyed = salted_hmac("dualchannel.monitoring.agent", agent_id_number.strip().upper())
    return keyed.hexdigest()[:16]


AGENT_RELATION_NOT_RECORDED = "not_recorded"  # some (or all) counted patients lack a relation
AGENT_RELATION_DECLARED = "declared"  # every counted patient: the agent declared no family tie
NOT_RECORDED = ""  # a patient's entry in ``agent_patients`` whose relation was never asked


def _patient_relation(relations: set[str]) -> str | None:
    """What one agent declared for one patient over the month: a non-family relation if ever
    declared (contradicting declarations count), else None for family (not counted), else
    ``NOT_RECORDED`` (only dispensings from before the counter asked)."""
    unrelated = sorted(r for r in relations if r and r not in FAMILY_RELATIONS)
    if unrelated:
        return unrelated[0]
    if any(r in FAMILY_RELATIONS for r in relations):
        return None
    return NOT_RECORDED


def agent_many_patients(scope: Scope) -> list[Finding]:
    """One agent (by ID number) bought in the period for ``min_patients`` or more persons the
    agent is not family of [HB art. 24].

    The counter asks how the agent is related to the patient (``Dispensing.agent_relation``):
    patients the agent declared as spouse, parent, child or other near relative are not
    counted; 其他（受委托人） is. Dispensings recorded before the relation was asked carry none:
    such a patient is counted (it cannot be shown to be family) and the evidence says the
    relation was not recorded, for the officer to check. The registry keeps no household
    (家庭共济) links, so a declaration is the agent's word, signed at the counter."""
    wanted = max(int(scope.params.get("min_patients", 3)), 1)
    rows = (
        Dispensing.objects.filter(
            pharmacy__region__code__startswith=scope.prefix,
            dispensed_at__date__gte=scope.start,
            dispensed_at__date__lte=scope.end,
        )
        .exclude(agent_id_number="")
        .values_list(
            "pk", "agent_id_number", "prescription__patient_id", "pharmacy_id", "agent_relation"
        )
    )
    by_agent: dict[str, dict[int, list[tuple[int, int, str]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for pk, agent, patient, pharmacy, relation in rows:
        by_agent[agent_key(agent)][patient].append((pk, pharmacy, relation))
    findings = []
    for key, per_patient in sorted(by_agent.items()):
        counted: dict[int, str] = {}
        family = 0
        for patient, done in per_patient.items():
            relation = _patient_relation({d[2] for d in done})
            if relation is None:
                family += 1
            else:
                counted[patient] = relation
        if len(counted) < wanted:
            continue
        done = [d for patient in counted for d in per_patient[patient]]
        pharmacies = [d[1] for d in done]
        dispensing_ids = ids(d[0] for d in done)
        settled = Settlement.objects.filter(
            dispensing_id__in=dispensing_ids, status=SettlementStatus.SETTLED
        ).values_list("pk", flat=True)
        unrecorded = sum(1 for r in counted.values() if r == NOT_RECORDED)
        evidence = {
            "agent": key,
            "patient_count": len(counted),
            "relation": AGENT_RELATION_NOT_RECORDED if unrecorded else AGENT_RELATION_DECLARED,
            # [person id, the declared relation ("" not recorded)]: ids and codes only
            "agent_patients": [[p, counted[p]] for p in sorted(counted)][:EVIDENCE_IDS_MAX],
            "dispensing_ids": dispensing_ids,
            "pharmacy_ids": ids(pharmacies),
            "settlement_ids": ids(settled),
        }
        if unrecorded:
            evidence["unrecorded_count"] = unrecorded
        if family:
            evidence["family_patient_count"] = family
        findings.append(
            Finding(
                max(set(pharmacies), key=pharmacies.count),
                ("agent_month", f"{key}:{month_key(scope.start)}"),
                evidence,
            )
        )
    return findings


# --- physicians against their peers --------------------------------------------------------------


def robust_z(value: Decimal, values: list[Decimal]) -> Decimal | None:
    """The robust z-score of ``value`` among ``values``: 0.6745 (x − median) / MAD, with the
    scaled mean absolute deviation where the MAD is nil; None when every value is the same."""
    centre = Decimal(median(values))
    deviations = [abs(v - centre) for v in values]
    mad = Decimal(median(deviations))
    if mad > 0:
        return MAD_SCALE * (value - centre) / mad
    mean_ad = sum(deviations, Decimal(0)) / len(deviations)
    if mean_ad == 0:
        return None
    return (value - centre) / (MEAN_AD_SCALE * mean_ad)


def _prescribed(scope: Scope) -> dict[int, dict[int, tuple[Decimal, list[int], int]]]:
    """drug → physician → (packages prescribed in the period, prescription ids, hospital)."""
    rows = PrescriptionItem.objects.filter(
        prescription__hospital__region__code__startswith=scope.prefix,
        prescription__issued_at__date__gte=scope.start,
        prescription__issued_at__date__lte=scope.end,
    ).exclude(prescription__status=PrescriptionStatus.CANCELLED)
    rows = rows.values_list(
        "drug_id",
        "prescription__physician_id",
        "packages",
        "prescription_id",
        "prescription__hospital_id",
    )
    found: dict[int, dict[int, list]] = defaultdict(dict)
    for drug, physician, packages, rx, hospital in rows:
        entry = found[drug].setdefault(physician, [Decimal(0), [], hospital])
        entry[0] += Decimal(packages)
        entry[1].append(rx)
    return {d: {p: tuple(e) for p, e in per.items()} for d, per in found.items()}


def physician_outlier(scope: Scope) -> list[Finding]:
    """A physician prescribing a drug far above the region's physicians who prescribe it:
    robust z-score above ``z_threshold`` among at least ``min_peers`` physicians [HB art. 46,
    AH §2(8)]."""
    threshold = Decimal(scope.params.get("z_threshold", Decimal("3.5")))
    peers = int(scope.params.get("min_peers", 5))
    findings = []
    for drug, per in sorted(_prescribed(scope).items()):
        if len(per) < max(peers, 2):
            continue
        amounts = [e[0] for e in per.values()]
        for physician, (packages, rx_ids, hospital) in sorted(per.items()):
            z = robust_z(packages, amounts)
            if z is None or z <= threshold:
                continue
            findings.append(
                Finding(
                    hospital,
                    ("physician_drug_month", f"{physician}:{drug}:{month_key(scope.start)}"),
                    {
                        "physician_id": physician,
                        "drug_id": drug,
                        "packages": str(packages),
                        "peer_median": str(Decimal(median(amounts))),
                        "robust_z": str(z.quantize(Decimal("0.01"), ROUND_HALF_UP)),
                        "peer_count": len(per),
                        "prescription_ids": ids(rx_ids),
                    },
                )
            )
    return findings


# --- the person's registry status, prices, the agreement period ---------------------------------


WITHOUT_BENEFITS = (BenefitStatus.SUSPENDED, BenefitStatus.TERMINATED)


def _status_history(person_ids: set[int]) -> dict[int, list[tuple[date, str, str]]]:
    """person → [(effective day, from, to)] of the registry's dated status changes."""
    found: dict[int, list[tuple[date, str, str]]] = defaultdict(list)
    rows = BenefitStatusChange.objects.filter(person_id__in=person_ids).order_by(
        "effective_on", "at", "id"
    )
    for person, on, was, now in rows.values_list(
        "person_id", "effective_on", "from_status", "to_status"
    ):
        found[person].append((on, was, now))
    return found


def status_on(changes: list[tuple[date, str, str]], day: date, current: str) -> str:
    """The person's benefit status on ``day``: the last change in effect by then, else the
    status before the first change; without dated changes, the registry's current status."""
    if not changes:
        return current
    before = [c for c in changes if c[0] <= day]
    if before:
        return before[-1][2]
    return changes[0][1] or changes[0][2]


def benefit_status_purchase(scope: Scope) -> list[Finding]:
    """Settlements of persons whose benefits were suspended or whose insurance had ended
    (death, departure) on the day of the settlement [HB art. 23, 47]: ``min_settlements`` or
    more in the period. The status is the registry's on that day (``BenefitStatusChange``): a
    purchase before a death is not flagged, one after it is, whatever the status is today. A
    person with no dated change is judged by their current status."""
    wanted = max(int(scope.params.get("min_settlements", 1)), 1)
    # persons without benefits now or at some time (before a change or after it)
    changed = BenefitStatusChange.objects.filter(
        Q(to_status__in=WITHOUT_BENEFITS) | Q(from_status__in=WITHOUT_BENEFITS)
    )
    rows = (
        live_settlements(scope)
        .filter(
            Q(person__benefit_status__in=WITHOUT_BENEFITS)
            | Q(person_id__in=changed.values("person_id"))
        )
        .values_list("pk", "person_id", "institution_id", "settled_on", "person__benefit_status")
        .order_by("settled_on", "pk")
    )
    rows = list(rows)
    history = _status_history({r[1] for r in rows})
    by_person: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for pk, person, inst, on, current in rows:
        status = status_on(history.get(person, []), on, current)
        if status in WITHOUT_BENEFITS:
            by_person[person].append((pk, inst, status))
    findings = []
    for person, found in sorted(by_person.items()):
        if len(found) < wanted:
            continue
        findings.append(
            Finding(
                found[-1][1],
                ("person_month", f"{person}:{month_key(scope.start)}"),
                {
                    "benefit_status": found[-1][2],
                    "settlement_ids": ids(f[0] for f in found),
                    "institution_ids": ids(f[1] for f in found),
                },
            )
        )
    return findings


def price_over_standard(scope: Scope) -> list[Finding]:
    """Lines sold above the payment standard by more than ``tolerance_amount`` yuan
    [CX art. 26, HB art. 30]."""
    tolerance = Decimal(scope.params.get("tolerance_amount", Decimal("0")))
    lines = SettlementLine.objects.filter(
        settlement__in=live_settlements(scope), over_standard__gt=tolerance
    ).values_list(
        "settlement_id", "settlement__institution_id", "drug_id", "unit_price", "over_standard"
    )
    findings = []
    for sid, inst, drug, price, over in lines.order_by("settlement_id", "position"):
        findings.append(
            Finding(
                inst,
                ("settlement.Settlement", sid),
                {
                    "settlement_ids": [sid],
                    "drug_id": drug,
                    "unit_price": str(price),
                    "over_standard": str(over),
                },
            )
        )
    return findings


def outside_agreement_period(scope: Scope) -> list[Finding]:
    """Settlements of negotiated drugs after their agreement period (plus ``grace_days``) with
    a fund payment [SD §1, HB art. 47]."""
    grace = int(scope.params.get("grace_days", 0))
    lines = (
        SettlementLine.objects.filter(
            settlement__in=live_settlements(scope).filter(fund__gt=0),
            drug__is_negotiated=True,
            drug__agreement_end__isnull=False,
        )
        .values_list(
            "settlement_id",
            "settlement__institution_id",
            "settlement__settled_on",
            "drug_id",
            "drug__agreement_end",
        )
        .order_by("settlement_id")
    )
    findings = []
    for sid, inst, on, drug, end in lines:
        if on <= end + timedelta(days=grace):
            continue
        findings.append(
            Finding(
                inst,
                ("settlement.Settlement", sid),
                {
                    "settlement_ids": [sid],
                    "drug_id": drug,
                    "agreement_end": end.isoformat(),
                    "settled_on": on.isoformat(),
                },
            )
        )
    return findings


def settled_boxes(scope: Scope) -> dict[tuple[int, int], tuple[int, list[int]]]:
    """(pharmacy, drug) → boxes settled at the pharmacy in the period and the settlements."""
    rows = SettlementLine.objects.filter(
        settlement__in=live_settlements(scope).filter(kind=SettlementKind.PHARMACY),
        drug__isnull=False,
    ).values_list("settlement__institution_id", "drug_id", "quantity", "settlement_id")
    found: dict[tuple[int, int], list] = defaultdict(lambda: [0, []])
    for inst, drug, quantity, sid in rows:
        found[(inst, drug)][0] += quantity
        found[(inst, drug)][1].append(sid)
    return {k: (v[0], v[1]) for k, v in found.items()}


def pharmacy_over_throughput(scope: Scope) -> list[Finding]:
    """A pharmacy settling a drug for more boxes than left its stock: more than ``ratio`` times
    its net sales, from ``min_boxes`` settled boxes [AH §2(8), SD §9]."""
    ratio = Decimal(scope.params.get("ratio", Decimal("1.2")))
    least = int(scope.params.get("min_boxes", 5))
    settled = settled_boxes(scope)
    sold = sold_boxes(scope, set(settled))
    findings = []
    for (pharmacy, drug), (boxes, settlement_ids) in sorted(settled.items()):
        out = sold.get((pharmacy, drug), 0)
        if boxes < least or Decimal(boxes) <= ratio * Decimal(max(out, 0)):
            continue
        findings.append(
            Finding(
                pharmacy,
                ("pharmacy_drug_month", f"{pharmacy}:{drug}:{month_key(scope.start)}"),
                {
                    "drug_id": drug,
                    "settled_boxes": boxes,
                    "sold_boxes": out,
                    "settlement_ids": ids(settlement_ids),
                },
            )
        )
    return findings


DETECTORS = {
    "multi_pharmacy_purchase": multi_pharmacy_purchase,
    "early_refill_overridden": early_refill_overridden,
    "agent_many_patients": agent_many_patients,
    "physician_outlier": physician_outlier,
    "benefit_status_purchase": benefit_status_purchase,
    "price_over_standard": price_over_standard,
    "outside_agreement_period": outside_agreement_period,
    "pharmacy_over_throughput": pharmacy_over_throughput,
}
