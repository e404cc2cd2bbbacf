from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "dualchannel.analytics"
    label = "analytics"
    verbose_name = "统计报表"
    default_auto_field = "django.db.models.BigAutoField"
