from django.urls import path

from . import views

urlpatterns = [
    path("agency/alerts/", views.agency_alerts, name="agency-alerts"),
    path(
        "agency/alerts/<int:alert_id>/review/",
        views.agency_alert_review,
        name="agency-alert-review",
    ),
]
