from django.urls import path

from . import counter_views, orders_views, reveal_views, views

urlpatterns = [
    path(
        "doctor/eligibilities/<int:eligibility_id>/prescribe/",
        views.doctor_prescribe,
        name="prescriptions-doctor-prescribe",
    ),
    path("doctor/prescriptions/", views.doctor_list, name="prescriptions-doctor-list"),
    path(
        "doctor/prescriptions/<int:prescription_id>/cancel/",
        views.doctor_cancel,
        name="prescriptions-doctor-cancel",
    ),
    path("pharmacy/prescriptions/", views.pharmacy_inbox, name="prescriptions-pharmacy-inbox"),
    path("pharmacy/counter/", counter_views.counter_home, name="prescriptions-counter"),
    path(
        "pharmacy/counter/<int:prescription_id>/",
        counter_views.counter_prescription,
        name="prescriptions-counter-rx",
    ),
    path(
        "pharmacy/counter/<int:prescription_id>/check/",
        counter_views.counter_verify,
        name="prescriptions-counter-check",
    ),
    path(
        "pharmacy/counter/<int:prescription_id>/dispense/",
        counter_views.counter_dispense_view,
        name="prescriptions-counter-dispense",
    ),
    path(
        "pharmacy/counter/<int:prescription_id>/id-number/",
        reveal_views.counter_id_number,
        name="prescriptions-counter-id-number",
    ),
    path(
        "pharmacy/counter/<int:prescription_id>/result/",
        counter_views.counter_result,
        name="prescriptions-counter-result",
    ),
    # 网上订单 [CX art. 22]
    path("pharmacy/orders/", orders_views.pharmacy_orders, name="prescriptions-pharmacy-orders"),
    path(
        "pharmacy/orders/code/",
        orders_views.pharmacy_order_code,
        name="prescriptions-pharmacy-order-code",
    ),
    path(
        "pharmacy/orders/settings/",
        orders_views.pharmacy_order_settings,
        name="prescriptions-pharmacy-order-settings",
    ),
    path(
        "pharmacy/orders/<int:order_id>/ship/",
        orders_views.pharmacy_order_ship,
        name="prescriptions-pharmacy-order-ship",
    ),
    path(
        "pharmacy/orders/<int:order_id>/handover/",
        orders_views.pharmacy_order_handover,
        name="prescriptions-pharmacy-order-handover",
    ),
    path(
        "pharmacy/orders/<int:order_id>/cancel/",
        orders_views.pharmacy_order_cancel,
        name="prescriptions-pharmacy-order-cancel",
    ),
]
