from django.urls import path

from . import out_of_area_views, people_views, stays_views, views

urlpatterns = [
    path(
        "out-of-area-filings/",
        out_of_area_views.out_of_area_filings,
        name="registry-out-of-area-filings",
    ),
    path(
        "out-of-area-filings/new/",
        out_of_area_views.out_of_area_filing_create,
        name="registry-out-of-area-filing-create",
    ),
    path(
        "out-of-area-filings/<int:filing_id>/cancel/",
        out_of_area_views.out_of_area_filing_cancel,
        name="registry-out-of-area-filing-cancel",
    ),
    path("agency/institutions/", views.agency_institutions, name="agency-institutions"),
    path(
        "agency/institutions/<int:pk>/",
        views.agency_institution_detail,
        name="agency-institution-detail",
    ),
    path(
        "agency/institutions/<int:pk>/designations/",
        views.agency_designation_apply,
        name="agency-designation-apply",
    ),
    path(
        "agency/designations/<int:pk>/transitions/",
        views.agency_designation_transition,
        name="agency-designation-transition",
    ),
    path("hospital/stays/", stays_views.hospital_stays, name="registry-hospital-stays"),
    path(
        "hospital/stays/new/",
        stays_views.hospital_stay_register,
        name="registry-hospital-stay-register",
    ),
    path(
        "hospital/filing-reviews/<int:pk>/decide/",
        stays_views.hospital_filing_review_decide,
        name="registry-hospital-filing-review-decide",
    ),
    path(
        "hospital/physicians/",
        people_views.hospital_physicians,
        name="registry-hospital-physicians",
    ),
    path(
        "hospital/physicians/new/",
        people_views.hospital_physician_create,
        name="registry-hospital-physician-create",
    ),
    path(
        "hospital/physicians/<int:pk>/assessments/",
        people_views.hospital_physician_assess,
        name="registry-hospital-physician-assess",
    ),
    path("agency/physicians/", people_views.agency_physicians, name="agency-physicians"),
    path(
        "agency/physicians/new/",
        people_views.agency_physician_file,
        name="agency-physician-file",
    ),
    path(
        "agency/physicians/designations/<int:pk>/decide/",
        people_views.agency_physician_decide,
        name="agency-physician-decide",
    ),
    path("query/", views.public_query, name="public-query"),
    path("query/results/", views.public_query_results, name="public-query-results"),
    path(
        "query/regions/<str:level>/",
        views.public_query_regions,
        name="public-query-regions",
    ),
]
