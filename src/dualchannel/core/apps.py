from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dualchannel.core"
    label = "core"
    verbose_name = "平台核心"
    default_auto_field = "django.db.models.BigAutoField"
