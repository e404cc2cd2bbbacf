from django.contrib import admin

from .models import PaymentOrder, PaymentRefund


@admin.register(PaymentOrder)
class PaymentOrderAdmin(admin.ModelAdmin):
    """Read-only: payments move only through their services (state machine, audit)."""

    list_display = ["out_trade_no", "purpose", "amount", "status", "created_at"]
    list_filter = ["status", "purpose"]
    search_fields = ["out_trade_no", "transaction_id"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PaymentRefund)
class PaymentRefundAdmin(admin.ModelAdmin):
    list_display = ["out_refund_no", "amount", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["out_refund_no", "refund_id"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
