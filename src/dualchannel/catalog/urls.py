from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path("agency/catalog/", RedirectView.as_view(url="/"), name="agency-catalog"),
]
