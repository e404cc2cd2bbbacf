"""FHIR R4 adapter: a FHIR server (REST search) or a folder of bundles (Synthea exports).

Patients are found by any identifier value (a Chinese HIS puts the resident ID number there;
Synthea bundles carry the Synthea id, MRN and a US SSN). Condition codes keep their system
(SNOMED in Synthea, ICD-10 医保版2.0 in a Chinese HIS); labs come from LOINC Observations.
Each DiagnosticReport / DocumentReference becomes a ``Report`` whose content is the canonical
JSON of the resource (or the attached document) with its SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx

from dualchannel.core.canonical import canonical_json
from dualchannel.core.errors import DomainError

from .. import error_codes as codes
from ..nhsa.envelope import SHANGHAI
from .base import (
    ICD10_SYSTEMS,
    LOINC,
    Diagnosis,
    HisAdapter,
    HisPatient,
    Observation,
    Report,
    filter_kinds,
)

FIXTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
FHIR_JSON = "application/fhir+json"
GENE_STUDIED = "48018-6"  # LOINC: gene studied [ID]

# DiagnosticReport.category codes (v2-0074) → MaterialKind
REPORT_CATEGORY_KINDS = {
    "LAB": "special_lab",
    "CH": "special_lab",
    "HM": "special_lab",
    "SP": "pathology",
    "PAT": "pathology",
    "CP": "pathology",
    "GE": "gene_test",
    "RAD": "imaging",
    "IMG": "imaging",
    "CT": "imaging",
    "MR": "imaging",
    "US": "imaging",
}
# LOINC document / report codes → MaterialKind
LOINC_KINDS = {
    "18842-5": "discharge_summary",
    "11526-1": "pathology",
    "60567-5": "pathology",
    "51969-4": "gene_test",
    "81247-9": "gene_test",
    "18748-4": "imaging",
    "11488-4": "outpatient_record",
    "34108-1": "outpatient_record",
    "11506-3": "outpatient_record",
}
# LOINC codes that the criteria know by a short name, with unit factors to the criteria's unit.
LAB_ALIASES = {
    "18262-6": ("LDL_C", {"mg/dL": 1 / 38.67, "mmol/L": 1.0}),  # LDL cholesterol → mmol/L
    "13457-7": ("LDL_C", {"mg/dL": 1 / 38.67, "mmol/L": 1.0}),
}


def parse_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment


def _ref_id(reference: str) -> str:
    """``urn:uuid:abc`` / ``Patient/abc`` / ``http://…/Patient/abc`` → ``abc``."""
    return reference.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def _first_coding(concept: dict[str, Any] | None) -> dict[str, Any]:
    codings = (concept or {}).get("coding") or []
    return codings[0] if codings else {}


def _text(concept: dict[str, Any] | None) -> str:
    concept = concept or {}
    return concept.get("text") or _first_coding(concept).get("display") or ""


# --- where resources come from -----------------------------------------------------------------


class BundleFolder:
    """Every resource of the ``*.json`` bundles in a folder, searchable by patient."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._by_type: dict[str, list[dict[str, Any]]] = {}
        for path in sorted(self.folder.glob("*.json")):
            bundle = json.loads(path.read_text(encoding="utf-8"))
            if bundle.get("resourceType") != "Bundle":
                continue
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") or {}
                kind = resource.get("resourceType")
                if kind:
                    self._by_type.setdefault(kind, []).append(resource)

    def patients_by_identifier(self, value: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self._by_type.get("Patient", [])
            if any(i.get("value") == value for i in p.get("identifier") or [])
        ]

    def for_patient(self, resource_type: str, patient_id: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self._by_type.get(resource_type, [])
            if _ref_id((r.get("subject") or {}).get("reference", "")) == patient_id
        ]


class FhirServer:
    """REST search on a FHIR R4 server: ``Patient?identifier=``, ``Condition?patient=``…"""

    MAX_PAGES = 20

    def __init__(self, base_url: str, *, client: httpx.Client | None = None, timeout=15) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

    def _search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        url: str | None = f"{self.base_url}/{resource_type}"
        found: list[dict[str, Any]] = []
        pages = 0
        query: dict[str, str] | None = {**params, "_count": "200"}
        while url and pages < self.MAX_PAGES:
            try:
                response = self._client.get(
                    url, params=query, headers={"Accept": "application/fhir+json"}
                )
            except httpx.HTTPError as exc:
                raise DomainError(codes.HIS_UNAVAILABLE, "医院信息系统（FHIR）无法访问") from exc
            if response.status_code != 200:
                raise DomainError(
                    codes.HIS_UNAVAILABLE, f"医院信息系统（FHIR）返回 HTTP {response.status_code}"
                )
            bundle = response.json()
            found += [
                e["resource"]
                for e in bundle.get("entry") or []
                if (e.get("resource") or {}).get("resourceType") == resource_type
            ]
            url = next(
                (
                    link["url"]
                    for link in bundle.get("link") or []
                    if link.get("relation") == "next"
                ),
                None,
            )
            query = None  # the next link carries its own query
            pages += 1
        return found

    def patients_by_identifier(self, value: str) -> list[dict[str, Any]]:
        return self._search("Patient", {"identifier": value})

    def for_patient(self, resource_type: str, patient_id: str) -> list[dict[str, Any]]:
        return self._search(resource_type, {"patient": patient_id})


# --- the adapter -------------------------------------------------------------------------------


class FhirAdapter(HisAdapter):
    def __init__(
        self,
        *,
        base_url: str = "",
        bundle_dir: Path | str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if base_url:
            self.source = FhirServer(base_url, client=client)
            self.source_system = f"FHIR {base_url.rstrip('/')}"
        else:
            folder = Path(bundle_dir) if bundle_dir else FIXTURE_DIR
            self.source = BundleFolder(folder)
            self.source_system = f"FHIR bundles {folder.name}"

    # patients

    def find_patient(self, id_number: str) -> HisPatient | None:
        value = (id_number or "").strip()
        if not value:
            return None
        matches = self.source.patients_by_identifier(value)
        if len(matches) != 1:
            return None  # none, or ambiguous: never guess a patient
        resource = matches[0]
        name = (resource.get("name") or [{}])[0]
        if name.get("text"):
            full = name["text"]
        else:
            full = " ".join([*(name.get("given") or []), name.get("family", "")]).strip()
        sex = {"male": "1", "female": "2"}.get(resource.get("gender", ""), "")
        birth = resource.get("birthDate")
        return HisPatient(
            his_id=resource["id"],
            name=full,
            sex=sex,
            birth_date=date.fromisoformat(birth) if birth else None,
            id_number=value,
        )

    # diagnoses

    def diagnoses(self, patient: HisPatient) -> list[Diagnosis]:
        found = []
        for condition in self.source.for_patient("Condition", patient.his_id):
            status = _first_coding(condition.get("verificationStatus")).get("code")
            if status in ("refuted", "entered-in-error"):
                continue
            coding = _first_coding(condition.get("code"))
            if not coding.get("code"):
                continue
            found.append(
                Diagnosis(
                    code=coding["code"],
                    name=_text(condition.get("code")),
                    recorded_at=parse_instant(
                        condition.get("recordedDate") or condition.get("onsetDateTime")
                    ),
                    source=f"fhir:Condition/{condition.get('id', '')}",
                    system=coding.get("system", ""),
                )
            )
        found.sort(key=lambda d: (d.recorded_at is None, d.recorded_at))
        return found

    # observations

    def _observations(self, patient: HisPatient) -> list[dict[str, Any]]:
        return self.source.for_patient("Observation", patient.his_id)

    @staticmethod
    def to_observations(resource: dict[str, Any]) -> list[Observation]:
        """One observation, or one per component (blood pressure has two)."""
        parts = resource.get("component") or [resource]
        found = []
        for part in parts:
            coding = _first_coding(part.get("code"))
            if "valueQuantity" in part:
                quantity = part["valueQuantity"]
                value: Any = float(quantity.get("value")) if "value" in quantity else None
                unit = quantity.get("unit") or quantity.get("code") or ""
            elif "valueCodeableConcept" in part:
                value, unit = _text(part["valueCodeableConcept"]), ""
            elif "valueString" in part:
                value, unit = part["valueString"], ""
            else:
                continue
            interpretation = _first_coding(
                (part.get("interpretation") or resource.get("interpretation") or [{}])[0]
            ).get("code", "")
            found.append(
                Observation(
                    code=coding.get("code", ""),
                    name=_text(part.get("code")),
                    value=value,
                    unit=unit,
                    interpretation=interpretation,
                    system=coding.get("system", ""),
                )
            )
        return found

    def labs(self, patient: HisPatient) -> dict[str, float]:
        """Latest numeric LOINC value per code, plus the criteria's short names (``LDL_C``)."""
        latest: dict[str, tuple[datetime, Observation]] = {}
        floor = datetime.min.replace(tzinfo=SHANGHAI)
        for resource in self._observations(patient):
            if _first_coding(resource.get("code")).get("code") == "69548-6":
                continue  # genetic variant assessments are genes, not labs
            when = parse_instant(resource.get("effectiveDateTime") or resource.get("issued"))
            for obs in self.to_observations(resource):
                if obs.system != LOINC or not isinstance(obs.value, float):
                    continue
                if obs.code not in latest or (when or floor) >= latest[obs.code][0]:
                    latest[obs.code] = (when or floor, obs)
        labs = {code: obs.value for code, (_, obs) in latest.items()}
        for code, (_, obs) in latest.items():
            alias = LAB_ALIASES.get(code)
            if alias and obs.unit in alias[1]:
                labs[alias[0]] = round(obs.value * alias[1][obs.unit], 2)
        return labs

    def genes(self, patient: HisPatient) -> dict[str, str]:
        """Gene → result from genomics Observations (component 48018-6 names the gene)."""
        genes: dict[str, str] = {}
        for resource in self._observations(patient):
            studied = next(
                (
                    c
                    for c in resource.get("component") or []
                    if _first_coding(c.get("code")).get("code") == GENE_STUDIED
                ),
                None,
            )
            if studied is None:
                continue
            gene_coding = _first_coding(studied.get("valueCodeableConcept"))
            gene = gene_coding.get("display") or gene_coding.get("code") or ""
            result = _text(resource.get("valueCodeableConcept")) or resource.get("valueString", "")
            if gene and result:
                genes[gene] = str(result).strip().lower()
        return genes

    # reports

    def reports(self, patient: HisPatient, kinds: Iterable[str] | None = None) -> list[Report]:
        observations = {o.get("id"): o for o in self._observations(patient)}
        found: list[Report] = []
        for resource in self.source.for_patient("DiagnosticReport", patient.his_id):
            results = [
                observations.get(_ref_id(r.get("reference", "")))
                for r in resource.get("result") or []
            ]
            found.append(
                Report(
                    kind=self._report_kind(resource),
                    title=_text(resource.get("code")),
                    issued_at=parse_instant(
                        resource.get("issued") or resource.get("effectiveDateTime")
                    ),
                    issuer=self._issuer(resource.get("performer")),
                    source_system=self.source_system,
                    source_id=f"DiagnosticReport/{resource.get('id', '')}",
                    mime_type=FHIR_JSON,
                    content=canonical_json(resource).encode(),
                    observations=[
                        obs for res in results if res for obs in self.to_observations(res)
                    ],
                )
            )
        for resource in self.source.for_patient("DocumentReference", patient.his_id):
            found.append(self._document(resource))
        found.sort(key=lambda r: (r.issued_at is None, r.issued_at))
        return filter_kinds(found, kinds)

    @staticmethod
    def _issuer(performers: list[dict[str, Any]] | None) -> str:
        return next((p.get("display", "") for p in performers or [] if p.get("display")), "")

    @staticmethod
    def _report_kind(resource: dict[str, Any]) -> str:
        code = _first_coding(resource.get("code"))
        if code.get("system") == LOINC and code.get("code") in LOINC_KINDS:
            return LOINC_KINDS[code["code"]]
        for category in resource.get("category") or []:
            for coding in category.get("coding") or []:
                if coding.get("code") in REPORT_CATEGORY_KINDS:
                    return REPORT_CATEGORY_KINDS[coding["code"]]
        return "special_lab"

    def _document(self, resource: dict[str, Any]) -> Report:
        type_coding = _first_coding(resource.get("type"))
        kind = LOINC_KINDS.get(type_coding.get("code", ""), "outpatient_record")
        attachment = ((resource.get("content") or [{}])[0] or {}).get("attachment") or {}
        content, mime = canonical_json(resource).encode(), FHIR_JSON
        if attachment.get("data"):
            try:
                content = base64.b64decode(attachment["data"], validate=True)
                mime = attachment.get("contentType") or "application/octet-stream"
            except (binascii.Error, ValueError):
                pass
        return Report(
            kind=kind,
            title=resource.get("description")
            or attachment.get("title")
            or _text(resource.get("type")),
            issued_at=parse_instant(resource.get("date")),
            issuer=self._issuer(resource.get("author")),
            source_system=self.source_system,
            source_id=f"DocumentReference/{resource.get('id', '')}",
            mime_type=mime,
            content=content,
        )


def is_icd10(diagnosis: Diagnosis) -> bool:
    return diagnosis.system in ICD10_SYSTEMS
