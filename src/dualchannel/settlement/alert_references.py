"""How the alert page names the rows of this app and the apps below it that monitoring cannot
read (``monitoring.evidence.reference_register``, from ``apps.SettlementConfig.ready``): numbers
and batch codes only, never a person's name or ID number."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from dualchannel.eligibility.models import Eligibility
from dualchannel.inventory.models import StockItem, StockMovement
from dualchannel.prescriptions.models import Dispensing, Prescription

from .models import Settlement


def settlements(ids: list[int]) -> dict[int, tuple[str, str]]:
    """Each settlement by its number, linked to the recovery page's pick list filtered to it
    (where a finding is recorded against it)."""
    base = reverse("agency-recoveries")
    rows = Settlement.objects.filter(pk__in=ids).only("settlement_no", "settled_on")
    return {
        s.pk: (
            f"{s.settlement_no}（{s.settled_on:%Y-%m-%d}）",
            f"{base}?{urlencode({'q': s.settlement_no})}",
        )
        for s in rows
    }


def prescriptions(ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = Prescription.objects.filter(pk__in=ids).only("prescription_no")
    return {p.pk: (f"处方 {p.prescription_no}", "") for p in rows}


def dispensings(ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = Dispensing.objects.filter(pk__in=ids).select_related("prescription")
    return {d.pk: (f"处方 {d.prescription.prescription_no} 的发药", "") for d in rows}


def movements(ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = StockMovement.objects.filter(pk__in=ids)
    return {m.pk: (f"{m.get_kind_display()} {m.fixmedins_bchno}", "") for m in rows}


def stock_items(ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = StockItem.objects.filter(pk__in=ids).select_related("drug")
    return {i.pk: (f"{i.drug.generic_name} 批号 {i.batch_no}", "") for i in rows}


def eligibilities(ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = Eligibility.objects.filter(pk__in=ids).select_related("application", "drug")
    return {
        e.pk: (f"申请号 {e.application.application_no}（{e.drug.generic_name}）", "") for e in rows
    }


REFERENCES = {
    "settlement": settlements,
    "prescription": prescriptions,
    "dispensing": dispensings,
    "movement": movements,
    "stock_item": stock_items,
    "eligibility": eligibilities,
}
