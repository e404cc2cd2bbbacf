from django.apps import AppConfig


class PrescriptionsConfig(AppConfig):
    name = "dualchannel.prescriptions"
    label = "prescriptions"
    verbose_name = "处方流转与药店购药"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dualchannel.integration.simulator.rxcentre import rxcentre_register_stock_hook

        from . import tasks  # noqa: F401  (registers the job handlers)
        from .circulation import simulator_stock

        # The bundled e-prescription-centre simulator answers stock queries from our inventory.
        rxcentre_register_stock_hook(simulator_stock)
