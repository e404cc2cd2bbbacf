from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "dualchannel.monitoring"
    label = "monitoring"
    verbose_name = "智能监控"
    default_auto_field = "django.db.models.BigAutoField"
