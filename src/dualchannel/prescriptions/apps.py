from django.apps import AppConfig


class PrescriptionsConfig(AppConfig):
    name = "dualchannel.prescriptions"
    label = "prescriptions"
    verbose_name = "处方流转与药店购药"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers the job handlers)
        from .services.order_payments import register_hooks

        register_hooks()  # the delivery fee paid online (payments hands its moves up)
