"""Back-office views of keys and documents: read-only (services are the only writers)."""

from django.contrib import admin

from .models import SignedDocument, SigningKey


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["physician", "algorithm", "short_fingerprint", "status", "created_at"]
    list_filter = ["status"]
    # The wrapped private key is never shown, not even encrypted.
    exclude = ["encrypted_private_key"]


@admin.register(SignedDocument)
class SignedDocumentAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "signer", "created_at", "revoked_at"]
    list_filter = ["kind"]
    # The signed data carries full ID numbers: the admin shows only the document's metadata.
    exclude = ["data", "verification_token"]
