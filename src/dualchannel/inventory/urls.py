from django.urls import path

from . import views

urlpatterns = [
    path("agency/coverage/", views.agency_coverage, name="agency-coverage"),
]
