from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "dualchannel.notifications"
    label = "notifications"
    verbose_name = "消息通知"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .templates import check_configured_ids

        check_configured_ids()
