from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "dualchannel.portal"
    label = "portal"
    verbose_name = "患者服务"
    default_auto_field = "django.db.models.BigAutoField"
