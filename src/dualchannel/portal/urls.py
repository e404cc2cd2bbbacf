from django.urls import path

from . import (
    filing_requests_views,
    messages_views,
    orders_views,
    prescriptions_views,
    views,
    wechat_views,
)

urlpatterns = [
    path("portal/", views.portal_home, name="portal-home"),
    path("portal/login/", views.portal_login, name="portal-login"),
    path("portal/login/code/", views.portal_login_code, name="portal-login-code"),
    path("portal/logout/", views.portal_logout, name="portal-logout"),
    path("portal/bind/", views.portal_bind, name="portal-bind"),
    # 账号设置: WeChat binding through the official account's web authorisation (网页授权).
    path("portal/account/", wechat_views.portal_account, name="portal-account"),
    path("portal/account/wechat/bind/", wechat_views.portal_wechat_bind, name="portal-wechat-bind"),
    path(
        "portal/account/wechat/callback/",
        wechat_views.portal_wechat_callback,
        name="portal-wechat-callback",
    ),
    path(
        "portal/account/wechat/unbind/",
        wechat_views.portal_wechat_unbind,
        name="portal-wechat-unbind",
    ),
    # The patient's messages in the portal's layout, each linked to what it is about.
    path("portal/messages/", messages_views.portal_messages, name="portal-messages"),
    path(
        "portal/messages/<int:notification_id>/read/",
        messages_views.portal_message_read,
        name="portal-message-read",
    ),
    path(
        "portal/applications/<int:application_id>/",
        views.portal_application,
        name="portal-application",
    ),
    path(
        "portal/applications/<int:application_id>/materials/",
        views.portal_material_upload,
        name="portal-material-upload",
    ),
    # The patient's own filing request [HB art. 7(1)]: drug, hospital, what they have.
    path(
        "portal/filings/new/",
        filing_requests_views.portal_filing_new,
        name="portal-filing-new",
    ),
    path(
        "portal/filings/<int:request_id>/",
        filing_requests_views.portal_filing_request,
        name="portal-filing-request",
    ),
    path(
        "portal/filings/<int:request_id>/withdraw/",
        filing_requests_views.portal_filing_withdraw,
        name="portal-filing-withdraw",
    ),
    path(
        "portal/prescriptions/",
        prescriptions_views.portal_prescriptions,
        name="portal-prescriptions",
    ),
    path(
        "portal/prescriptions/<int:prescription_id>/",
        prescriptions_views.portal_prescription,
        name="portal-prescription",
    ),
    path(
        "portal/prescriptions/<int:prescription_id>/route/",
        prescriptions_views.portal_prescription_route,
        name="portal-prescription-route",
    ),
    # 网订店取 / 网订店送 [CX art. 22]
    path(
        "portal/prescriptions/<int:prescription_id>/order/",
        orders_views.portal_order_new,
        name="portal-order-new",
    ),
    path(
        "portal/prescriptions/<int:prescription_id>/addresses/",
        orders_views.portal_address_add,
        name="portal-address-add",
    ),
    path("portal/orders/<int:order_id>/", orders_views.portal_order, name="portal-order"),
    path(
        "portal/orders/<int:order_id>/pay/", orders_views.portal_order_pay, name="portal-order-pay"
    ),
    path(
        "portal/orders/<int:order_id>/cancel/",
        orders_views.portal_order_cancel,
        name="portal-order-cancel",
    ),
    path(
        "portal/orders/<int:order_id>/received/",
        orders_views.portal_order_received,
        name="portal-order-received",
    ),
]
