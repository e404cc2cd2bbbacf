from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "dualchannel.settlement"
    label = "settlement"
    verbose_name = "医保结算"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dualchannel.prescriptions.counter_sections import counter_result_section_register

        from . import tasks  # noqa: F401  (registers the job handlers)
        from .views import counter_settlement_context

        # The counter's result page (prescriptions, a floor below) shows the settlement part.
        counter_result_section_register(
            template="settlement/_counter.html", context=counter_settlement_context
        )
