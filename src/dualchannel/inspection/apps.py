from django.apps import AppConfig


class InspectionConfig(AppConfig):
    name = "dualchannel.inspection"
    label = "inspection"
    verbose_name = "现场检查与抽查"
    default_auto_field = "django.db.models.BigAutoField"
