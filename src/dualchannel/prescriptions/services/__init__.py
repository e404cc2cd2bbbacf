"""The prescriptions' business actions, one module per sub-domain.

``prescribing`` (issue), ``lifecycle`` (cancel, expire, mark dispensed), ``routing`` (the patient's
pharmacy and consent), ``counter`` (the pharmacy counter: open, check, dispense) with its checks
in ``counter_checks``, ``delivery`` (the way to the patient), ``orders`` (online orders
[CX art. 22]), ``circulation`` (the e-prescription centre's job); ``common`` holds what they
share. The names callers use are re-exported here.
"""

from .lifecycle import prescription_cancel, prescription_mark_dispensed, prescriptions_expire
from .online_payment import amount_due, personal_pricing_register
from .order_payments import order_payment_open
from .orders import (
    Placed,
    address_add,
    delivery_settings_save,
    order_cancel,
    order_confirm_received,
    order_place_delivery,
    order_place_pickup,
    order_redeem_code,
    order_ship,
    orders_expire,
    pickup_windows,
    settings_of,
)
from .prescribing import (
    MAX_ITEMS,
    ItemInput,
    clean_items,
    plan_left,
    prescription_issue,
    reserved_quantity,
)
from .rollup_marks import (
    circulation_clear_rolled_up,
    dispensings_mark_rolled_up,
    prescriptions_mark_rolled_up,
)
from .routing import PharmacyOption, allowed_pharmacies, pharmacy_options, prescription_route

__all__ = [
    "MAX_ITEMS",
    "ItemInput",
    "PharmacyOption",
    "Placed",
    "address_add",
    "allowed_pharmacies",
    "amount_due",
    "circulation_clear_rolled_up",
    "clean_items",
    "delivery_settings_save",
    "dispensings_mark_rolled_up",
    "order_cancel",
    "order_confirm_received",
    "order_payment_open",
    "order_place_delivery",
    "order_place_pickup",
    "order_redeem_code",
    "order_ship",
    "orders_expire",
    "personal_pricing_register",
    "pharmacy_options",
    "pickup_windows",
    "plan_left",
    "prescription_cancel",
    "prescription_issue",
    "prescription_mark_dispensed",
    "prescription_route",
    "prescriptions_expire",
    "prescriptions_mark_rolled_up",
    "reserved_quantity",
    "settings_of",
]
