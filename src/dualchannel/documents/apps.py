from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class DocumentsConfig(AppConfig):
    name = "dualchannel.documents"
    label = "documents"
    verbose_name = "电子签名文书"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_key_encryption_key, checks.Tags.security, deploy=True)


def check_key_encryption_key(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Production must set a dedicated key for physicians' private keys (see crypto.py)."""
    if settings.DOCUMENT_KEY_ENCRYPTION_KEY:
        return []
    return [
        checks.Warning(
            "DOCUMENT_KEY_ENCRYPTION_KEY is empty: physicians' signing keys are wrapped with a key "
            "derived from SECRET_KEY, so rotating SECRET_KEY would strand them.",
            hint="Set DOCUMENT_KEY_ENCRYPTION_KEY to 32+ random characters "
            "(e.g. python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())').",
            id="documents.W001",
        )
    ]
