from django.urls import path

from . import views

urlpatterns = [
    path(
        "pharmacy/counter/<int:prescription_id>/settle/",
        views.counter_settle,
        name="settlement-counter-settle",
    ),
    path(
        "pharmacy/settlements/<int:settlement_id>/reverse/",
        views.counter_reverse,
        name="settlement-counter-reverse",
    ),
]
