from django.contrib import admin

from .models import StockItem, StockMovement, StockMovementUploadTransition, TraceCode


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    list_display = ("pharmacy", "drug", "batch_no", "expiry_date", "quantity", "retail_price")
    list_filter = ("pharmacy",)
    search_fields = ("batch_no", "drug__generic_name")

    def has_change_permission(self, request, obj=None):
        return False  # stock changes only through inventory.services


class UploadHistoryInline(admin.TabularInline):
    model = StockMovementUploadTransition
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "actor", "reason", "at")


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "pharmacy", "stock_item", "quantity_delta", "upload_status")
    list_filter = ("kind", "upload_status")
    search_fields = ("reference",)
    inlines = [UploadHistoryInline]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TraceCode)
class TraceCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "drug", "stock_item", "status", "received", "sold_at")
    list_filter = ("status", "received")
    search_fields = ("code",)

    def has_change_permission(self, request, obj=None):
        return False
