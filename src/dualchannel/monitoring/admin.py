from django.contrib import admin

from .models import Alert, AlertTransition


class AlertHistoryInline(admin.TabularInline):
    model = AlertTransition
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "actor", "reason", "at")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("id", "rule", "severity", "institution", "subject_type", "state", "created_at")
    list_filter = ("rule", "severity", "state")
    search_fields = ("subject_id",)
    inlines = [AlertHistoryInline]

    def has_change_permission(self, request, obj=None):
        return False  # state changes only through monitoring.services.alert_review
