from django.urls import path

from . import rules_views, views

urlpatterns = [
    path("agency/alerts/", views.agency_alerts, name="agency-alerts"),
    path("agency/alerts/<int:alert_id>/", views.agency_alert, name="agency-alert"),
    path(
        "agency/alerts/<int:alert_id>/review/",
        views.agency_alert_review,
        name="agency-alert-review",
    ),
    path(
        "agency/monitoring/rules/",
        rules_views.agency_monitoring_rules,
        name="agency-monitoring-rules",
    ),
    path(
        "agency/monitoring/rules/<str:region_code>/<slug:key>/",
        rules_views.agency_monitoring_rule_update,
        name="agency-monitoring-rule-update",
    ),
]
