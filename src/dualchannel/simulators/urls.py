"""The simulators over HTTP; mounted by ``config.urls`` only when ``SIMULATORS_ENABLED``."""

from django.urls import path

from . import views, voucher_views, wechat, wxpay_views

urlpatterns = [
    path("simulators/nhsa/", views.nhsa_endpoint, name="nhsa-simulator"),
    path("simulators/nhsa/oauth/token", views.nhsa_token, name="nhsa-simulator-token"),
    path("simulators/nhsa/<str:infno>", views.nhsa_endpoint, name="nhsa-simulator-infno"),
    path("simulators/rxcentre/<str:api>", views.rxcentre_endpoint, name="rxcentre-simulator"),
    # what the patient's insurance app shows (demo): 我的医保电子凭证
    path("simulators/voucher/", voucher_views.patient_voucher, name="simulators-patient-voucher"),
    path(
        "simulators/wechat/connect/oauth2/authorize",
        wechat.authorize,
        name="wechat-simulator-authorize",
    ),
    path(
        "simulators/wechat/sns/oauth2/access_token",
        wechat.access_token,
        name="wechat-simulator-access-token",
    ),
    # the payment provider (WeChat Pay API v3 style) and its cashier page
    path("simulators/wxpay/v3/<path:rest>", wxpay_views.api, name="wxpay-simulator-api"),
    path("simulators/wxpay/cashier/", wxpay_views.cashier, name="wxpay-simulator-cashier"),
]
