from django.urls import path

from .simulator import views as simulator

urlpatterns = [
    path("simulators/nhsa/", simulator.nhsa_endpoint, name="nhsa-simulator"),
    path("simulators/nhsa/oauth/token", simulator.nhsa_token, name="nhsa-simulator-token"),
    path("simulators/nhsa/<str:infno>", simulator.nhsa_endpoint, name="nhsa-simulator-infno"),
    path("simulators/rxcentre/<str:api>", simulator.rxcentre_endpoint, name="rxcentre-simulator"),
]
