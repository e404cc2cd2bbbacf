from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "dualchannel.inventory"
    label = "inventory"
    verbose_name = "药店进销存"
    default_auto_field = "django.db.models.BigAutoField"
