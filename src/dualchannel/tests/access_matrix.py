"""What the API access matrices share (``test_access_matrix`` and its eligibility and
prescriptions parts): the actors, an operation row and how it is called, which operations each
part covers, and the fingerprint of the rows an outsider must not change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.apps import apps

from dualchannel.core.canonical import digest, snapshot
from dualchannel.core.models import AuditEvent

INSIDERS = ["physician_user", "reviewer_user", "pharmacist_user", "agency_user", "patient_user"]
OUTSIDERS = [
    "outsider_physician",
    "outsider_reviewer",
    "outsider_pharmacist",
    "outsider_agency",
    "outsider_patient",
]
REFUSED = {401, 403, 404}


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # the OpenAPI template; its parameters are filled from the world
    params: tuple[tuple[str, str], ...] = ()  # parameter -> world key, beyond DEFAULT_PARAMS
    body: dict[str, Any] | None = None
    query: dict[str, Any] = field(default_factory=dict)
    allowed: frozenset[str] = frozenset()  # insider fixtures for which it succeeds
    list_read: bool = False  # a list: outsiders may get 200, but none of the world's data
    national: bool = False  # national data every region's officers read alike

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def op(
    method, path, body=None, *, allowed=(), query=None, list_read=False, national=False, **params
) -> Op:
    return Op(
        method,
        path,
        tuple(params.items()),
        body,
        query or {},
        frozenset(allowed),
        list_read,
        national,
    )


# Which world object a path parameter names, unless an op says otherwise.
DEFAULT_PARAMS = {
    "criteria_set_id": "draft_set_id",
    "criterion_id": "draft_item_id",
    "designation_id": "designation_id",
    "physician_id": "physician_id",
    "person_id": "person_id",
    "region_code": "region_code",
    "drug_id": "drug_id",
    "standard_id": "standard_id",
    "year": "calendar_year",
    "document_id": "document_id",
    "filing_id": "filing_id",
    "pharmacy_id": "pharmacy_id",
    "stock_item_id": "stock_item_id",
    "movement_id": "movement_id",
    "regional_list_id": "regional_list_id",
    "alert_id": "alert_id",
    "complaint_id": "complaint_id",
}


# Eligibility operations: their rows are in test_access_matrix_eligibility.py, whose world holds
# applications in each state (that module checks that its rows are exactly these).
ELIGIBILITY_MATRIX = {
    "GET /api/v1/eligibility/applications",
    "POST /api/v1/eligibility/applications",
    "GET /api/v1/eligibility/applications/review-queue",
    "GET /api/v1/eligibility/applications/{application_id}",
    "POST /api/v1/eligibility/applications/{application_id}/id-number",
    "POST /api/v1/eligibility/applications/{application_id}/answers",
    "GET /api/v1/eligibility/applications/{application_id}/check",
    "PUT /api/v1/eligibility/applications/{application_id}/plan",
    "POST /api/v1/eligibility/applications/{application_id}/submit",
    "POST /api/v1/eligibility/applications/{application_id}/materials",
    "POST /api/v1/eligibility/applications/{application_id}/materials/scan",
    "POST /api/v1/eligibility/materials/{material_id}/verify",
    "POST /api/v1/eligibility/applications/{application_id}/request-materials",
    "POST /api/v1/eligibility/applications/{application_id}/approve",
    "POST /api/v1/eligibility/applications/{application_id}/reject",
    "POST /api/v1/eligibility/applications/{application_id}/withdraw",
    "GET /api/v1/eligibility/eligibilities",
    "GET /api/v1/eligibility/eligibilities/{eligibility_id}",
    "POST /api/v1/eligibility/eligibilities/{eligibility_id}/reevaluations",
    "POST /api/v1/eligibility/reevaluations/{reevaluation_id}/complete",
}

# Prescription operations: their rows are in test_access_matrix_prescriptions.py, whose world
# holds an eligibility, stock, prescriptions and dispensings, built once per module.
PRESCRIPTION_MATRIX = {
    "POST /api/v1/prescriptions/",
    "GET /api/v1/prescriptions/",
    "GET /api/v1/prescriptions/{prescription_id}",
    "POST /api/v1/prescriptions/{prescription_id}/id-number",
    "POST /api/v1/prescriptions/{prescription_id}/cancel",
    "GET /api/v1/prescriptions/{prescription_id}/pharmacies",
    "POST /api/v1/prescriptions/{prescription_id}/route",
    "GET /api/v1/prescriptions/eligibilities/{eligibility_id}/dispensing-results",
    "POST /api/v1/prescriptions/counter/open",
    "POST /api/v1/prescriptions/{prescription_id}/counter/check",
    "POST /api/v1/prescriptions/{prescription_id}/counter/dispense",
    "POST /api/v1/prescriptions/dispensings/{dispensing_id}/delivery",
    "POST /api/v1/settlement/prescriptions/{prescription_id}/preview",
    "POST /api/v1/settlement/prescriptions/{prescription_id}/stay-charge",
    "POST /api/v1/settlement/stays/{stay_id}/preview",
    "POST /api/v1/settlement/stays/{stay_id}/settle",
    "POST /api/v1/registry/stays",
    "GET /api/v1/registry/stays",
    "GET /api/v1/registry/filing-reviews",
    "POST /api/v1/registry/filing-reviews/{review_id}/decide",
    "POST /api/v1/settlement/prescriptions/{prescription_id}/settle",
    "POST /api/v1/settlement/settlements/{settlement_id}/reverse",
    "GET /api/v1/settlement/settlements/{settlement_id}",
    "GET /api/v1/settlement/settlements/{settlement_id}/receipt",
    "GET /api/v1/settlement/counter/{prescription_id}/self-pay-receipt",
    "POST /api/v1/settlement/claims",
    "POST /api/v1/settlement/claims/{claim_id}/decide",
    "GET /api/v1/settlement/claims/{claim_id}",
    "POST /api/v1/settlement/batches",
    "GET /api/v1/settlement/batches/{batch_id}",
    "POST /api/v1/settlement/batches/{batch_id}/reconcile",
    "POST /api/v1/settlement/batches/{batch_id}/apply",
    "POST /api/v1/settlement/batches/{batch_id}/review",
    "GET /api/v1/settlement/budget",
    "POST /api/v1/settlement/findings",
    "GET /api/v1/settlement/recoveries",
    "GET /api/v1/settlement/recoveries/{recovery_id}",
    "POST /api/v1/settlement/recoveries/{recovery_id}/cancel",
    "POST /api/v1/settlement/eligibilities/{eligibility_id}/revoke",
    "POST /api/v1/settlement/hospital/prescriptions/{prescription_id}/preview",
    "POST /api/v1/settlement/hospital/prescriptions/{prescription_id}/settle",
}

WATCHED_MODELS = [
    "analytics.CountyProgress",
    "analytics.MonthlySubmission",
    "registry.Institution",
    "registry.Designation",
    "registry.DesignationTransition",
    "registry.Physician",
    "registry.PhysicianAssessment",
    "registry.Pharmacist",
    "registry.InsuredPerson",
    "registry.EquippedDrug",
    "registry.PolicyProfile",
    "registry.OutOfAreaFiling",
    "catalog.Drug",
    "catalog.PaymentStandard",
    "catalog.CriteriaSet",
    "catalog.Criterion",
    "catalog.RegionalList",
    "catalog.RegionalListEntry",
    "core.User",
    "core.CalendarYear",
    "core.CalendarDay",
    "documents.SignedDocument",
    "documents.SigningKey",
    "integration.PlatformFiling",
    "inventory.StockItem",
    "inventory.StockMovement",
    "inventory.TraceCode",
    "monitoring.Alert",
    "complaints.Complaint",
    "inspection.SpotCheck",
    "inspection.SpotCheckCase",
    "settlement.SettlementBatch",
    "settlement.ViolationFinding",
    "settlement.RecoveryOrder",
]


def fingerprint() -> str:
    """One digest of every watched row and of the audit ledger's length."""
    rows = {
        label: [snapshot(obj) for obj in apps.get_model(label).objects.order_by("pk")]
        for label in WATCHED_MODELS
    }
    rows["audit_events"] = AuditEvent.objects.count()
    return digest(rows)


def fill(value: Any, world: dict) -> Any:
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in world:
            return world[value[1:-1]]
        return value.format(**world)
    if isinstance(value, list):
        return [fill(v, world) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, world) for k, v in value.items()}
    return value


def call(client, case: Op, world: dict, user=None):
    if user is not None:
        client.as_user(user)
    names = {**DEFAULT_PARAMS, **dict(case.params)}
    path = re.sub(r"\{(\w+)\}", lambda m: str(world[names[m.group(1)]]), case.path)
    kwargs = {"content_type": "application/json"} if case.body is not None else {}
    data = fill(case.body, world) if case.body is not None else None
    query = fill(case.query, world)
    if case.method == "GET":
        return client.get(path, query)
    if query:
        path = f"{path}?{urlencode(query)}"
    method = getattr(client, case.method.lower())
    return method(path, data, **kwargs) if data is not None else method(path)
