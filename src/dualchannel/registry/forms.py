"""Page forms; validation of business rules stays in the services."""

from __future__ import annotations

from django import forms

from .models import DesignationStatus, ExitReason, HospitalLevel, InstitutionKind, Region
from .regions import region_subtree

KIND_CHOICES = [
    (InstitutionKind.HOSPITAL.value, InstitutionKind.HOSPITAL.label),
    (InstitutionKind.PHARMACY.value, InstitutionKind.PHARMACY.label),
]


def region_choices(regions) -> list[tuple[str, str]]:
    return [(r.code, f"{r.name}（{r.code}）") for r in regions]


class InstitutionFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label="类型", required=False, choices=[("", "全部类型"), *KIND_CHOICES]
    )
    region = forms.ChoiceField(label="区划", required=False)
    status = forms.ChoiceField(
        label="定点状态",
        required=False,
        choices=[("", "全部状态"), *DesignationStatus.choices],
    )
    q = forms.CharField(label="名称或信用代码", required=False, max_length=50)

    def __init__(self, *args, regions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "全部区划"), *region_choices(regions)]


class InstitutionCreateForm(forms.Form):
    kind = forms.ChoiceField(label="类型", choices=KIND_CHOICES)
    name = forms.CharField(label="名称", max_length=100)
    credit_code = forms.CharField(label="统一社会信用代码", max_length=18)
    region = forms.ChoiceField(label="所在县（区）")
    address = forms.CharField(label="地址", max_length=200, required=False)
    phone = forms.CharField(label="联系电话", max_length=20, required=False)
    platform_code = forms.CharField(label="定点机构编码", max_length=12, required=False)
    hospital_level = forms.TypedChoiceField(
        label="医院等级（仅医疗机构）",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), *HospitalLevel.choices],
    )
    has_pathology = forms.BooleanField(label="具备病理检测能力", required=False)
    has_gene_testing = forms.BooleanField(label="具备基因检测能力", required=False)
    has_biologics_licence = forms.BooleanField(label="经营范围含生物制品", required=False)
    has_cold_chain = forms.BooleanField(label="具备冷链储存配送", required=False)
    realtime_settlement = forms.BooleanField(label="已实现即时联网结算", required=False)
    e_prescription_connected = forms.BooleanField(label="已接入电子处方流转", required=False)
    traceability_enabled = forms.BooleanField(label="已实现药品追溯码扫码", required=False)

    def __init__(self, *args, regions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = region_choices(r for r in regions if r.is_county_level)


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=DesignationStatus.choices)
    reason = forms.CharField(required=False, max_length=2000)
    exit_reason = forms.ChoiceField(required=False, choices=[("", "—"), *ExitReason.choices])
    agreement_no = forms.CharField(required=False, max_length=50)


def regions_for_officer(region: Region | None):
    """Regions an officer can pick: their own and everything below it."""

    if region is None:
        return Region.objects.filter(level="province").order_by("code")
    return region_subtree(region).order_by("code")
