from django.urls import path

from . import views

urlpatterns = [
    path("notifications/", views.inbox, name="notification-inbox"),
    path("notifications/<int:pk>/read/", views.mark_read, name="notification-read"),
]
