from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    name = "dualchannel.eligibility"
    label = "eligibility"
    verbose_name = "用药资格认定"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Deadlines computed on a provisional calendar follow the year's notice when loaded.
        from dualchannel.monitoring.engine import detector_register
        from dualchannel.notifications.links import register_link_resolver

        from . import calendar_follow  # noqa: F401
        from .selectors import physician_message_path
        from .surveillance import DETECTORS

        # A physician's message about a patient's filing request opens that request.
        register_link_resolver(physician_message_path)

        # Monitoring sits below eligibility: its review-clock rules are handed down.
        for key, detector in DETECTORS.items():
            detector_register(key, detector)
