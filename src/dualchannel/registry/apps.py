from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "dualchannel.registry"
    label = "registry"
    verbose_name = "定点与参保登记"
    default_auto_field = "django.db.models.BigAutoField"
