from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "dualchannel.documents"
    label = "documents"
    verbose_name = "电子签名文书"
    default_auto_field = "django.db.models.BigAutoField"
