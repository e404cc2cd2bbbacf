"""Hospital systems (HIS/LIS/PACS) behind one interface: FHIR R4 or the built-in demo HIS."""

from __future__ import annotations

from django.conf import settings

from dualchannel.core.errors import DomainError

from .. import error_codes as codes
from .base import Diagnosis, HisAdapter, HisPatient, Observation, Report
from .demo import DemoHis
from .fhir import FhirAdapter


def get_his_adapter() -> HisAdapter:
    """The adapter ``settings.HIS_ADAPTER`` names: "demo" or "fhir" (``FHIR_BASE_URL``, or the
    bundled Synthea folder when no URL is set)."""
    kind = settings.HIS_ADAPTER
    if kind == "demo":
        return DemoHis()
    if kind == "fhir":
        return FhirAdapter(base_url=settings.FHIR_BASE_URL)
    raise DomainError(codes.HIS_NOT_CONFIGURED, f"未知的医院信息系统适配器：{kind}")


__all__ = [
    "DemoHis",
    "Diagnosis",
    "FhirAdapter",
    "HisAdapter",
    "HisPatient",
    "Observation",
    "Report",
    "get_his_adapter",
]
