from django.contrib import admin

from .models import (
    CriteriaSet,
    CriteriaSetStatusHistory,
    CriteriaStatus,
    Criterion,
    Drug,
    ListEdition,
    PaymentStandard,
    Restriction,
)


@admin.register(ListEdition)
class ListEditionAdmin(admin.ModelAdmin):
    list_display = ("code", "title", "document_no", "effective_from", "row_count", "imported_at")
    readonly_fields = ("source_sha256", "row_count", "imported_at")
    search_fields = ("code", "title", "document_no")


class PaymentStandardInline(admin.TabularInline):
    model = PaymentStandard
    extra = 0
    fields = (
        "specification",
        "unit",
        "amount",
        "is_confidential",
        "effective_from",
        "effective_to",
        "edition",
        "source_text",
    )
    readonly_fields = ("edition", "source_text")
    show_change_link = True


class RestrictionInline(admin.TabularInline):
    model = Restriction
    extra = 0
    fields = ("text", "effective_from", "effective_to", "edition")
    readonly_fields = ("edition",)


@admin.register(Drug)
class DrugAdmin(admin.ModelAdmin):
    list_display = (
        "generic_name",
        "section",
        "list_no",
        "category_code",
        "dosage_form",
        "is_anti_cancer",
        "is_injectable",
        "needs_cold_chain",
        "special_control",
        "agreement_end",
    )
    list_filter = (
        "section",
        "is_dual_channel",
        "is_separately_paid",
        "is_anti_cancer",
        "is_injectable",
        "needs_cold_chain",
        "special_control",
        "edition",
    )
    search_fields = ("generic_name", "pinyin_initials", "pinyin", "brand_names", "category_code")
    readonly_fields = ("pinyin_initials", "pinyin", "edition")
    inlines = [PaymentStandardInline, RestrictionInline]


@admin.register(PaymentStandard)
class PaymentStandardAdmin(admin.ModelAdmin):
    list_display = (
        "drug",
        "specification",
        "amount",
        "is_confidential",
        "effective_from",
        "effective_to",
    )
    list_filter = ("is_confidential", "edition")
    search_fields = ("drug__generic_name", "drug__pinyin_initials", "specification")
    raw_id_fields = ("drug",)


class CriterionInline(admin.TabularInline):
    """Items are edited on drafts only, as in catalog.services: a published set is a version that
    applications were judged on (and that processes keep in memory, catalog.selectors)."""

    model = Criterion
    extra = 0
    fields = ("position", "code", "kind", "group", "text", "expression")

    def _is_draft(self, obj) -> bool:
        return obj is None or obj.status == CriteriaStatus.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_delete_permission(request, obj)


class StatusHistoryInline(admin.TabularInline):
    model = CriteriaSetStatusHistory
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "actor", "reason", "at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CriteriaSet)
class CriteriaSetAdmin(admin.ModelAdmin):
    list_display = (
        "drug",
        "region",
        "version",
        "status",
        "origin",
        "evaluation_cycle_days",
        "published_at",
    )
    list_filter = ("status", "origin", ("region", admin.EmptyFieldListFilter))
    list_select_related = ("drug", "region")
    search_fields = ("drug__generic_name", "drug__pinyin_initials", "region__code", "region__name")
    raw_id_fields = ("drug", "region", "restriction", "created_by")
    # Status changes go through the services (history + audit), never through the admin form.
    readonly_fields = ("status", "published_at", "source_digest")
    inlines = [CriterionInline, StatusHistoryInline]
