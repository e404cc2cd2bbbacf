from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "dualchannel.settlement"
    label = "settlement"
    verbose_name = "医保结算"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers the job handlers)
