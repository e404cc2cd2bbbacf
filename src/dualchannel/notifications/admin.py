from django.contrib import admin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Read-only view of the outbox for operators (delivery state, no phone numbers stored)."""

    list_display = ("id", "template_code", "channel", "state", "attempts", "created_at", "sent_at")
    list_filter = ("channel", "state", "template_code")
    readonly_fields = [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
