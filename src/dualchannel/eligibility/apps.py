from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    name = "dualchannel.eligibility"
    label = "eligibility"
    verbose_name = "用药资格认定"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Deadlines computed on a provisional calendar follow the year's notice when loaded.
        from . import calendar_follow  # noqa: F401
