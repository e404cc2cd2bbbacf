from django.urls import path

from . import person_views

urlpatterns = [
    path("agency/persons/", person_views.agency_persons, name="agency-persons"),
    path(
        "agency/persons/platform/",
        person_views.agency_person_fetch,
        name="agency-person-fetch",
    ),
]
