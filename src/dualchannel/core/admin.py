from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import AuditEvent, RoleGrant, User


class RoleGrantInline(admin.TabularInline):
    model = RoleGrant
    extra = 0


@admin.register(User)
class DualChannelUserAdmin(UserAdmin):
    fieldsets = (
        *UserAdmin.fieldsets,
        ("机构与角色", {"fields": ("display_name", "institution", "insured_person")}),
    )
    raw_id_fields = ("institution", "insured_person")
    list_display = ("username", "display_name", "institution", "is_active")
    inlines = [RoleGrantInline]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the ledger is append-only, even for administrators."""

    list_display = ("occurred_at", "stream", "seq", "action", "subject_type", "subject_id")
    list_filter = ("action", "stream")
    search_fields = ("subject_id", "action")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
