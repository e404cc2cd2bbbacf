from django.urls import path

from . import views

urlpatterns = [
    path("complaints/new/", views.complaint_new, name="complaint-new"),
    path("complaints/track/", views.complaint_track, name="complaint-track"),
    path("agency/complaints/", views.agency_complaints, name="agency-complaints"),
    path("agency/complaints/<int:complaint_id>/", views.agency_complaint, name="agency-complaint"),
    path(
        "agency/complaints/<int:complaint_id>/<str:action>/",
        views.agency_complaint_act,
        name="agency-complaint-act",
    ),
    path(
        "agency/complaints/<int:complaint_id>/attachment",
        views.agency_complaint_attachment,
        name="agency-complaint-attachment",
    ),
]
