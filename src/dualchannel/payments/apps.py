from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """The personal part paid on the phone [CX art. 22 网上支付、移动支付]: orders at a payment
    provider (WeChat Pay v3 style), their signed notifies, queries, expiry and refunds."""

    name = "dualchannel.payments"
    label = "payments"
    verbose_name = "线上支付"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers the periodic query/expiry and refund jobs)
