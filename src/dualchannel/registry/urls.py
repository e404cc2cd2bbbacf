from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path("agency/institutions/", RedirectView.as_view(url="/"), name="agency-institutions"),
    path("query/", RedirectView.as_view(url="/"), name="public-query"),
]
