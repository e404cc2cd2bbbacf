"""Back-office data. Designation statuses change only through the services (read-only here)."""

from django.contrib import admin

from dualchannel.core.masking import mask_id_number, mask_phone

from .models import (
    BenefitStatus,
    BenefitStatusChange,
    Designation,
    DesignationTransition,
    EquippedDrug,
    Institution,
    InsuredPerson,
    Pharmacist,
    Physician,
    PhysicianAssessment,
    PolicyProfile,
    Region,
)
from .services.people import benefit_status_change_record


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "level", "parent", "is_county_level", "is_urban_district")
    list_filter = ("level", "is_county_level", "is_urban_district")
    search_fields = ("code", "name")
    raw_id_fields = ("parent",)


@admin.register(PolicyProfile)
class PolicyProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "region", "physician_min_title", "binding_mode", "exit_ban_months")
    search_fields = ("name", "region__code", "region__name")
    raw_id_fields = ("region",)


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "region", "credit_code", "hospital_level")
    list_filter = ("kind", "hospital_level", "realtime_settlement", "e_prescription_connected")
    search_fields = ("name", "credit_code", "platform_code")
    raw_id_fields = ("region",)


class DesignationTransitionInline(admin.TabularInline):
    model = DesignationTransition
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "actor", "reason", "at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Designation)
class DesignationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "applied_on", "effective_from", "ban_until")
    list_filter = ("status",)
    search_fields = ("institution__name", "physician__name")
    inlines = [DesignationTransitionInline]
    # Status changes go through registry.services.designation_transition (history + audit).
    readonly_fields = (
        "institution",
        "physician",
        "status",
        "applied_on",
        "effective_from",
        "agreement_no",
        "exit_reason",
        "exited_on",
        "ban_until",
        "created_at",
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Physician)
class PhysicianAdmin(admin.ModelAdmin):
    list_display = ("name", "hospital", "department", "title", "staff_code")
    list_filter = ("title",)
    search_fields = ("name", "staff_code")
    raw_id_fields = ("hospital", "user")


@admin.register(PhysicianAssessment)
class PhysicianAssessmentAdmin(admin.ModelAdmin):
    list_display = ("physician", "year", "result", "assessed_at")
    list_filter = ("year", "result")


@admin.register(Pharmacist)
class PharmacistAdmin(admin.ModelAdmin):
    list_display = ("name", "pharmacy", "practising_certificate_no")
    search_fields = ("name", "practising_certificate_no")
    raw_id_fields = ("pharmacy", "user")


class BenefitStatusChangeInline(admin.TabularInline):
    """The person's dated benefit-status changes, as recorded (read-only)."""

    model = BenefitStatusChange
    fields = ("effective_on", "from_status", "to_status", "reason", "actor", "at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InsuredPerson)
class InsuredPersonAdmin(admin.ModelAdmin):
    list_display = (
        "person_no",
        "name",
        "masked_id_number",
        "sex",
        "birth_date",
        "masked_phone",
        "insurance_type",
        "enrolment_region",
        "benefit_status",
    )
    list_filter = ("insurance_type", "benefit_status", "sex")
    search_fields = ("person_no", "=id_number", "name")
    raw_id_fields = ("enrolment_region",)
    # Sex and birth date are derived from the ID number by the services.
    readonly_fields = ("sex", "birth_date")
    inlines = [BenefitStatusChangeInline]

    def save_model(self, request, obj: InsuredPerson, form, change: bool) -> None:
        """A benefit status changed here is dated from today in the person's status history
        (the monitoring rules read the status on a settlement's day from it)."""
        was = (
            InsuredPerson.objects.filter(pk=obj.pk).values_list("benefit_status", flat=True).first()
            if change
            else ""
        )
        super().save_model(request, obj, form, change)
        if obj.benefit_status != (was or BenefitStatus.NORMAL):
            benefit_status_change_record(obj, was or "", actor=request.user, reason="管理后台修改")

    @admin.display(description="身份证号")
    def masked_id_number(self, obj: InsuredPerson) -> str:
        return mask_id_number(obj.id_number)

    @admin.display(description="联系电话")
    def masked_phone(self, obj: InsuredPerson) -> str:
        return mask_phone(obj.phone)


@admin.register(EquippedDrug)
class EquippedDrugAdmin(admin.ModelAdmin):
    list_display = ("institution", "drug", "since")
    raw_id_fields = ("institution", "drug")
