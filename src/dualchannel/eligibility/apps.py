from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    name = "dualchannel.eligibility"
    label = "eligibility"
    verbose_name = "用药资格认定"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Deadlines computed on a provisional calendar follow the year's notice when loaded.
        from dualchannel.monitoring.engine import detector_register

        from . import calendar_follow  # noqa: F401
        from .surveillance import DETECTORS

        # Monitoring sits below eligibility: its review-clock rules are handed down.
        for key, detector in DETECTORS.items():
            detector_register(key, detector)
