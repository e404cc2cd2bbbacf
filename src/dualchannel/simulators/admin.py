from django.contrib import admin

from .models import SimFault, SimFiling


@admin.register(SimFault)
class SimFaultAdmin(admin.ModelAdmin):
    list_display = ("id", "mode", "infno", "remaining", "created_at")


@admin.register(SimFiling)
class SimFilingAdmin(admin.ModelAdmin):
    list_display = ("trt_dcla_detl_sn", "fixmedins_code", "opsp_dise_code", "begndate")
