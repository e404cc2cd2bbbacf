from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "dualchannel.portal"
    label = "portal"
    verbose_name = "患者服务"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # WeChat template messages to patients open the portal page they are about.
        from dualchannel.notifications.links import register_link_resolver

        from .selectors import patient_message_path

        register_link_resolver(patient_message_path)
