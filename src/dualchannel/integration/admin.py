from django.contrib import admin

from .models import PlatformCall, PlatformFiling, PlatformFilingTransition


class FilingHistoryInline(admin.TabularInline):
    model = PlatformFilingTransition
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "actor", "reason", "at")


@admin.register(PlatformFiling)
class PlatformFilingAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "subject_type", "subject_id", "institution", "status", "attempts")
    list_filter = ("kind", "status")
    search_fields = ("subject_id", "trt_dcla_detl_sn")
    inlines = [FilingHistoryInline]

    def has_change_permission(self, request, obj=None):
        return False  # status changes only through integration.services.filing


@admin.register(PlatformCall)
class PlatformCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "institution", "infno", "msgid", "infcode", "duration_ms")
    list_filter = ("infno", "infcode")
    search_fields = ("msgid", "idempotency_key")

    def has_change_permission(self, request, obj=None):
        return False
