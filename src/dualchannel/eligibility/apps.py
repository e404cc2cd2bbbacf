from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    name = "dualchannel.eligibility"
    label = "eligibility"
    verbose_name = "用药资格认定"
    default_auto_field = "django.db.models.BigAutoField"
