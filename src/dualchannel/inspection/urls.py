from django.urls import path

from . import views

urlpatterns = [
    path("agency/inspection/", views.agency_inspection, name="agency-inspection"),
    path(
        "agency/inspection/<int:institution_id>/",
        views.agency_inspection_institution,
        name="agency-inspection-institution",
    ),
    path(
        "agency/inspection/<int:institution_id>/export.xlsx",
        views.agency_inspection_export,
        name="agency-inspection-export",
    ),
    path("agency/spot-checks/draw/", views.agency_spot_check_draw, name="agency-spot-check-draw"),
    path(
        "agency/spot-checks/<int:spot_check_id>/", views.agency_spot_check, name="agency-spot-check"
    ),
    path(
        "agency/spot-checks/cases/<int:case_id>/",
        views.agency_spot_check_case,
        name="agency-spot-check-case",
    ),
    path(
        "agency/spot-checks/<int:spot_check_id>/finish/",
        views.agency_spot_check_finish,
        name="agency-spot-check-finish",
    ),
]
