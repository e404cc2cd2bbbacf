from django.urls import path

from . import views

urlpatterns = [
    path("verify/<str:token>/", views.verify, name="document-verify"),
    path("documents/<int:document_id>/", views.document_view, name="document-view"),
    path("documents/<int:document_id>/pdf/", views.document_file, name="document-file"),
]
