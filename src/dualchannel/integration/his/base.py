"""The hospital-system (HIS/LIS/PACS) adapter interface and the records it returns."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

ICD10_YB2 = "urn:cn:nhsa:icd10-yb2.0"  # ICD-10 医保版2.0 diagnosis codes
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10_SYSTEMS = frozenset(
    {ICD10_YB2, "http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cn"}
)


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class HisPatient:
    his_id: str
    name: str
    sex: str  # "1" male, "2" female, "" unknown (catalog.criteria convention)
    birth_date: date | None
    id_number: str


@dataclass(frozen=True)
class Diagnosis:
    code: str
    name: str
    recorded_at: datetime | None
    source: str  # where it came from, e.g. "fhir:Condition/<id>" or "demo-his:<visit>"
    system: str = ICD10_YB2  # the code system is kept: SNOMED codes are not ICD-10


@dataclass(frozen=True)
class Observation:
    code: str
    name: str
    value: Any  # a number (float) or text
    unit: str = ""
    interpretation: str = ""  # e.g. "positive", "H", "阳性"
    system: str = ""


@dataclass(frozen=True)
class Report:
    """A report to be pulled into a case as a material: content with its checksum and source."""

    kind: str  # catalog.models.MaterialKind value
    title: str
    issued_at: datetime | None
    issuer: str
    source_system: str
    source_id: str
    mime_type: str
    content: bytes
    checksum: str = ""
    observations: list[Observation] = field(default_factory=list)

    def __post_init__(self) -> None:
        actual = sha256_hex(self.content)
        if self.checksum and self.checksum != actual:
            raise ValueError(f"checksum mismatch for report {self.source_id}")
        object.__setattr__(self, "checksum", actual)


@dataclass(frozen=True)
class BillItem:
    """One item of a stay's inpatient bill as the hospital system itemises it [AH §2(5)]."""

    name: str
    amount: Decimal  # yuan, two places
    category: str  # 甲, 乙 or 自费 (outside the catalogue)
    source: str = ""


def age_on(birth_date: date | None, today: date) -> int | None:
    if birth_date is None:
        return None
    return (
        today.year
        - birth_date.year
        - ((today.month, today.day) < (birth_date.month, birth_date.day))
    )


class HisAdapter(ABC):
    """One hospital system. Implementations: ``FhirAdapter`` (FHIR R4) and ``DemoHis``."""

    source_system: str = ""

    @abstractmethod
    def find_patient(self, id_number: str) -> HisPatient | None: ...

    @abstractmethod
    def diagnoses(self, patient: HisPatient) -> list[Diagnosis]: ...

    @abstractmethod
    def reports(self, patient: HisPatient, kinds: Iterable[str] | None = None) -> list[Report]: ...

    @abstractmethod
    def labs(self, patient: HisPatient) -> dict[str, float]: ...

    @abstractmethod
    def genes(self, patient: HisPatient) -> dict[str, str]: ...

    def prior_therapies(self, patient: HisPatient) -> list[str]:
        """Therapy classes already given (``"EGFR-TKI"``, ``"platinum"``…); none if unknown."""
        return []

    def inpatient_bill(self, patient: HisPatient, admission_no: str) -> list[BillItem]:
        """The bill of the patient's stay under ``admission_no``; none if unknown."""
        return []

    def patient_context(
        self,
        patient: HisPatient,
        *,
        insurance_type: str,
        setting: str,
        today: date | None = None,
    ) -> dict[str, Any]:
        """The context ``catalog.criteria`` evaluates (see its module docstring)."""
        today = today or timezone.localdate()
        person: dict[str, Any] = {}
        age = age_on(patient.birth_date, today)
        if age is not None:
            person["age"] = age
        if patient.sex in ("1", "2"):
            person["sex"] = patient.sex
        return {
            "patient": person,
            # Criteria match ICD-10 医保版2.0 codes; codes of other systems (SNOMED) stay out.
            "diagnoses": [d.code for d in self.diagnoses(patient) if d.system in ICD10_SYSTEMS],
            "labs": {code: float(value) for code, value in self.labs(patient).items()},
            "genes": dict(self.genes(patient)),
            "prior_therapies": list(self.prior_therapies(patient)),
            "insurance_type": insurance_type,
            "setting": setting,
        }


def filter_kinds(reports: list[Report], kinds: Iterable[str] | None) -> list[Report]:
    if kinds is None:
        return reports
    wanted = set(kinds)
    return [r for r in reports if r.kind in wanted]
