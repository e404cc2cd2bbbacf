from django.contrib.auth import views as auth_views
from django.urls import path

from . import calendar_views, job_failures_views, otp_views, views

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
    # Failed and dead background jobs of one's institution (admins: all), with retry.
    path("jobs/failed/", job_failures_views.failed_jobs, name="core-failed-jobs"),
    # One year's holiday table; provincial officers and admins load it (core.calendar).
    path("calendar/<int:year>/", calendar_views.calendar_year_page, name="core-calendar-year"),
    path(
        "jobs/failed/<int:job_id>/retry/",
        job_failures_views.failed_job_retry,
        name="core-failed-job-retry",
    ),
]
