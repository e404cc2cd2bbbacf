from django.urls import path

from . import views

urlpatterns = [
    path("payments/notify/<str:provider>/", views.notify, name="payments-notify"),
    path("payments/return/<str:out_trade_no>/", views.payment_return, name="payments-return"),
]
