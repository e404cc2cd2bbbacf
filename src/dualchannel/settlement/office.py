"""What a hospital's insurance office (医保办) reads of its own business [P §1.2.2]: eligibility
applications and approvals, prescriptions and their dispensing outcomes, settled amounts, per
month, and the open monitoring alerts about the hospital. Read-only; the hospital's own rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from dualchannel.core.errors import NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import require_role
from dualchannel.core.roles import Role
from dualchannel.eligibility.models import Application, ApplicationStatus
from dualchannel.monitoring.models import Alert, AlertState
from dualchannel.prescriptions.models import Prescription, PrescriptionStatus
from dualchannel.registry.models import Institution, InstitutionKind

from .models import Settlement, SettlementStatus

ZERO = Decimal("0.00")


@dataclass
class MonthRow:
    month: date
    applications: int = 0
    approved: int = 0
    rejected: int = 0
    prescriptions: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # prescription status -> count
    settlements: int = 0
    total: Decimal = ZERO
    fund: Decimal = ZERO


def office_hospital(actor: User | None) -> Institution:
    """The reviewer's own hospital (the insurance office); anyone else is refused."""
    require_role(actor, Role.REVIEWER)
    found = Institution.objects.filter(
        pk=actor.institution_id, kind=InstitutionKind.HOSPITAL
    ).first()
    if found is None:
        raise NotFound()
    return found


def _month(value) -> date:
    return value.date() if hasattr(value, "date") else value


def office_months(hospital: Institution, since: date) -> list[MonthRow]:
    """Counts and amounts of the hospital's business per month since ``since``, newest first."""
    rows: dict[date, MonthRow] = {}

    def row(month) -> MonthRow:
        key = _month(month)
        return rows.setdefault(key, MonthRow(key))

    apps = Application.objects.filter(hospital=hospital, created_at__date__gte=since)
    for r in apps.annotate(m=TruncMonth("created_at")).values("m").annotate(n=Count("pk")):
        row(r["m"]).applications = r["n"]
    decided = Application.objects.filter(hospital=hospital, decided_at__date__gte=since)
    for r in (
        decided.annotate(m=TruncMonth("decided_at"))
        .values("m")
        .annotate(
            ok=Count("pk", filter=Q(status=ApplicationStatus.APPROVED)),
            no=Count("pk", filter=Q(status=ApplicationStatus.REJECTED)),
        )
    ):
        row(r["m"]).approved, row(r["m"]).rejected = r["ok"], r["no"]
    rx = Prescription.objects.filter(hospital=hospital, issued_at__date__gte=since)
    for r in rx.annotate(m=TruncMonth("issued_at")).values("m", "status").annotate(n=Count("pk")):
        target = row(r["m"])
        target.prescriptions += r["n"]
        target.outcomes[r["status"]] = r["n"]
    paid = Settlement.objects.filter(
        institution=hospital, settled_on__gte=since, status=SettlementStatus.SETTLED
    )
    for r in (
        paid.annotate(m=TruncMonth("settled_on"))
        .values("m")
        .annotate(n=Count("pk"), total=Sum("total"), fund=Sum("fund"))
    ):
        target = row(r["m"])
        target.settlements, target.total, target.fund = r["n"], r["total"], r["fund"]
    return sorted(rows.values(), key=lambda r: r.month, reverse=True)


def office_alerts(hospital: Institution) -> QuerySet[Alert]:
    """Open monitoring alerts about the hospital [P §1.2.2]."""
    return Alert.objects.filter(institution=hospital, state=AlertState.OPEN).order_by(
        "-created_at", "-id"
    )


OUTCOME_LABELS = dict(PrescriptionStatus.choices)
