from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "dualchannel.catalog"
    label = "catalog"
    verbose_name = "药品目录"
    default_auto_field = "django.db.models.BigAutoField"
