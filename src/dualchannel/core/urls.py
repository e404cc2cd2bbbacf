from django.contrib.auth import views as auth_views
from django.urls import path

from . import otp_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="core/login.html", authentication_form=views.LoginForm
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/otp/", otp_views.otp_verify, name="otp-verify"),
    path("accounts/otp/setup/", otp_views.otp_setup, name="otp-setup"),
]
