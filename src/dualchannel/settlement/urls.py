from django.urls import path

from . import (
    batch_views,
    claim_views,
    office_views,
    pharmacy_views,
    recovery_views,
    revocation_views,
    stay_views,
    views,
    workbench_views,
)

urlpatterns = [
    path(
        "hospital/insurance-office/", office_views.hospital_office, name="hospital-insurance-office"
    ),
    path("pharmacy/", pharmacy_views.pharmacy_home, name="pharmacy-home"),
    path("pharmacy/settlements/", pharmacy_views.pharmacy_settlements, name="pharmacy-settlements"),
    path("pharmacy/declaration/", pharmacy_views.pharmacy_declaration, name="pharmacy-declaration"),
    path(
        "pharmacy/counter/<int:prescription_id>/settle/",
        views.counter_settle,
        name="settlement-counter-settle",
    ),
    path(
        "pharmacy/settlements/<int:settlement_id>/reverse/",
        views.counter_reverse,
        name="settlement-counter-reverse",
    ),
    path(
        "hospital/stays/<int:stay_id>/bill/",
        stay_views.hospital_stay_bill,
        name="settlement-hospital-stay-bill",
    ),
    path("agency/", workbench_views.agency_home, name="agency-home"),
    path("agency/settlement/", views.agency_settlement, name="agency-settlement"),
    path(
        "agency/settlement/batches/<int:batch_id>/",
        batch_views.agency_batch_detail,
        name="agency-batch-detail",
    ),
    path("agency/settlement/claims/", claim_views.agency_claims, name="agency-claims"),
    path(
        "agency/settlement/claims/<int:claim_id>/",
        claim_views.agency_claim,
        name="agency-claim",
    ),
    path(
        "agency/settlement/claims/<int:claim_id>/decide/",
        claim_views.agency_claim_decide,
        name="agency-claim-decide",
    ),
    path(
        "agency/settlement/claims/<int:claim_id>/receipts/<int:number>/",
        claim_views.agency_claim_receipt,
        name="agency-claim-receipt",
    ),
    path(
        "agency/settlement/batches/<int:batch_id>/review/",
        views.agency_batch_review,
        name="agency-batch-review",
    ),
    path(
        "agency/settlement/recoveries/",
        recovery_views.agency_recoveries,
        name="agency-recoveries",
    ),
    path(
        "agency/settlement/findings/",
        recovery_views.agency_finding_record,
        name="agency-finding-record",
    ),
    path(
        "agency/settlement/recoveries/<int:order_id>/cancel/",
        recovery_views.agency_recovery_cancel,
        name="agency-recovery-cancel",
    ),
    path(
        "agency/settlement/revocations/",
        revocation_views.agency_revocations,
        name="agency-revocations",
    ),
    path(
        "agency/settlement/revocations/<int:eligibility_id>/revoke/",
        revocation_views.agency_revocation_revoke,
        name="agency-revocation-revoke",
    ),
    path(
        "institution/recoveries/",
        recovery_views.institution_recoveries,
        name="institution-recoveries",
    ),
]
