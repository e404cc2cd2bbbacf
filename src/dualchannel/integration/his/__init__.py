"""Hospital systems (HIS/LIS/PACS) behind one interface: FHIR R4 or the built-in demo HIS.

Each hospital has its own system: ``get_his_adapter(hospital)`` answers with the system of the
hospital when it is connected (``HIS_HOSPITALS`` lists it by 定点机构编码 or 统一社会信用代码),
and otherwise with ``NoHis``, which knows nobody. A physician therefore sees hospital-system
data only through their own hospital's system, and only for the patients it holds.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from dualchannel.core.errors import DomainError

from .. import error_codes as codes
from .base import BillItem, Diagnosis, HisAdapter, HisPatient, Observation, Report
from .demo import DemoHis
from .fhir import FhirAdapter


class NoHis(HisAdapter):
    """The system of a hospital that is not connected: it knows no patient."""

    source_system = ""

    def find_patient(self, id_number: str) -> HisPatient | None:
        return None

    def diagnoses(self, patient: HisPatient) -> list[Diagnosis]:
        return []

    def reports(self, patient: HisPatient, kinds: Iterable[str] | None = None) -> list[Report]:
        return []

    def labs(self, patient: HisPatient) -> dict[str, float]:
        return {}

    def genes(self, patient: HisPatient) -> dict[str, str]:
        return {}


def his_code(hospital) -> str | None:
    """The code under which ``hospital`` is connected to a hospital system, or None."""
    if hospital is None:
        return None
    connected = set(settings.HIS_HOSPITALS)
    for code in (hospital.platform_code, hospital.credit_code):
        if code and code in connected:
            return code
    return None


def get_his_adapter(hospital) -> HisAdapter:
    """The system of ``hospital``: the adapter ``settings.HIS_ADAPTER`` names, "demo" or "fhir"
    (the hospital's URL in ``FHIR_BASE_URLS``, else ``FHIR_BASE_URL``, else the bundled Synthea
    folder); ``NoHis`` for a hospital that is not connected."""
    kind = settings.HIS_ADAPTER
    if kind not in ("demo", "fhir"):
        raise DomainError(codes.HIS_NOT_CONFIGURED, f"未知的医院信息系统适配器：{kind}")
    code = his_code(hospital)
    if code is None:
        return NoHis()
    if kind == "demo":
        return DemoHis()
    return FhirAdapter(base_url=settings.FHIR_BASE_URLS.get(code) or settings.FHIR_BASE_URL)


__all__ = [
    "BillItem",
    "DemoHis",
    "Diagnosis",
    "FhirAdapter",
    "HisAdapter",
    "HisPatient",
    "NoHis",
    "Observation",
    "Report",
    "get_his_adapter",
    "his_code",
]
