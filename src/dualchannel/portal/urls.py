from django.urls import path

from . import views

urlpatterns = [
    path("portal/", views.portal_home, name="portal-home"),
    path("portal/login/", views.portal_login, name="portal-login"),
    path("portal/login/code/", views.portal_login_code, name="portal-login-code"),
    path("portal/logout/", views.portal_logout, name="portal-logout"),
    path("portal/bind/", views.portal_bind, name="portal-bind"),
]
