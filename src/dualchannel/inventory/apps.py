from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "dualchannel.inventory"
    label = "inventory"
    verbose_name = "药店进销存"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dualchannel.monitoring.engine import detector_register

        from .surveillance import DETECTORS

        # Monitoring sits below inventory: its stock and trace-code rules are handed down.
        for key, detector in DETECTORS.items():
            detector_register(key, detector)
