from django.urls import path

from . import register_import_views, reveal_views, transfer_views, views

urlpatterns = [
    path(
        "agency/eligibilities/transfer/",
        transfer_views.agency_eligibility_transfer,
        name="agency-eligibility-transfer",
    ),
    path(
        "agency/eligibilities/import/",
        register_import_views.agency_eligibility_import,
        name="agency-eligibility-import",
    ),
    path("doctor/", views.doctor_home, name="eligibility-doctor"),
    path("doctor/drugs/", views.doctor_drug_search, name="eligibility-doctor-drugs"),
    path("doctor/patient/", views.doctor_patient_lookup, name="eligibility-doctor-patient"),
    path(
        "doctor/patient/platform/",
        views.doctor_patient_platform,
        name="eligibility-doctor-patient-platform",
    ),
    path("doctor/applications/new/", views.doctor_create, name="eligibility-doctor-create"),
    path(
        "doctor/applications/<int:application_id>/",
        views.doctor_application,
        name="eligibility-doctor-application",
    ),
    path(
        "doctor/applications/<int:application_id>/answer/",
        views.doctor_answer,
        name="eligibility-doctor-answer",
    ),
    path(
        "doctor/applications/<int:application_id>/plan/",
        views.doctor_plan,
        name="eligibility-doctor-plan",
    ),
    path(
        "doctor/applications/<int:application_id>/submit/",
        views.doctor_submit,
        name="eligibility-doctor-submit",
    ),
    path(
        "doctor/applications/<int:application_id>/withdraw/",
        views.doctor_withdraw,
        name="eligibility-doctor-withdraw",
    ),
    path(
        "applications/<int:application_id>/id-number/",
        reveal_views.application_id_number,
        name="eligibility-application-id-number",
    ),
    path("review/", views.review_home, name="eligibility-review"),
    path(
        "review/applications/<int:application_id>/",
        views.review_case,
        name="eligibility-review-case",
    ),
    path(
        "review/applications/<int:application_id>/approve/",
        views.review_approve,
        name="eligibility-review-approve",
    ),
    path(
        "review/applications/<int:application_id>/filings/<int:filing_id>/retry/",
        views.review_filing_retry,
        name="eligibility-review-filing-retry",
    ),
    path(
        "review/applications/<int:application_id>/reject/",
        views.review_reject,
        name="eligibility-review-reject",
    ),
    path(
        "review/applications/<int:application_id>/materials/",
        views.review_request_materials,
        name="eligibility-review-request",
    ),
    path(
        "review/applications/<int:application_id>/materials/scan/",
        views.review_material_scan,
        name="eligibility-review-scan",
    ),
    path(
        "review/materials/<int:material_id>/verify/",
        views.review_material_verify,
        name="eligibility-review-verify",
    ),
]
