from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "dualchannel.integration"
    label = "integration"
    verbose_name = "外部系统对接"
    default_auto_field = "django.db.models.BigAutoField"
