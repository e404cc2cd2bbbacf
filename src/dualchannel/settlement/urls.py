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
    path("agency/settlement/", views.agency_settlement, name="agency-settlement"),
    path(
        "agency/settlement/batches/<int:batch_id>/review/",
        views.agency_batch_review,
        name="agency-batch-review",
    ),
]
