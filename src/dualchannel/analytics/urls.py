from django.urls import path

from . import stats_views, views

urlpatterns = [
    path("agency/reports/sd-monthly/", views.agency_sd_monthly, name="agency-sd-monthly"),
    path(
        "agency/reports/sd-monthly/progress/",
        views.agency_sd_progress,
        name="agency-sd-progress",
    ),
    path("agency/reports/sd-monthly/submit/", views.agency_sd_submit, name="agency-sd-submit"),
    path(
        "agency/reports/sd-monthly/xlsx/",
        views.agency_sd_monthly_xlsx,
        name="agency-sd-monthly-xlsx",
    ),
    path("agency/reports/sd-province/", views.agency_sd_province, name="agency-sd-province"),
    path(
        "agency/reports/sd-quarterly/xlsx/",
        views.agency_sd_quarterly_xlsx,
        name="agency-sd-quarterly-xlsx",
    ),
    path("agency/statistics/", stats_views.agency_statistics, name="agency-statistics"),
    path(
        "agency/statistics/xlsx/",
        stats_views.agency_statistics_xlsx,
        name="agency-statistics-xlsx",
    ),
]
