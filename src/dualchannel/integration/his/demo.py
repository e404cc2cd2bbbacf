"""The built-in HIS stand-in of the demo: Chinese patients with diagnoses and reports.

Patients live in ``fixtures/demo_his.json``, keyed by name, birth date, sex and the serial the
demo uses; their ID numbers are computed with ``registry.identifiers.synthetic_id_number`` so
that they match the demo's insured persons. Reports are rendered as UTF-8 text documents with
their SHA-256.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from dualchannel.registry.identifiers import synthetic_id_number

from .base import (
    BillItem,
    Diagnosis,
    HisAdapter,
    HisPatient,
    Observation,
    Report,
    filter_kinds,
)
from .fhir import parse_instant

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "demo_his.json"
TEXT_MIME = "text/plain; charset=utf-8"
SEX_LABELS = {"1": "男", "2": "女"}
# the demo hospital's bill of a stay [AH §2(5)]: bed, examinations, a self-pay consumable
DEMO_STAY_BILL = (
    ("床位费", "600.00", "甲"),
    ("检查化验费", "1400.00", "甲"),
    ("自费耗材", "100.00", "自费"),
)


def render_report(patient: HisPatient, entry: dict[str, Any]) -> bytes:
    """A plain-text report as the HIS prints it: header, patient, body."""
    born = patient.birth_date.isoformat() if patient.birth_date else ""
    head = [
        entry["issuer"].split(" ")[0],
        entry["title"],
        "",
        f"报告编号：{entry['id']}",
        f"姓名：{patient.name}  性别：{SEX_LABELS.get(patient.sex, '')}  出生日期：{born}",
        f"门诊/住院号：{patient.his_id}",
        f"签发科室：{entry['issuer']}",
        f"签发时间：{entry['issued_at']}",
        "",
    ]
    return ("\n".join([*head, *entry["lines"]]) + "\n").encode("utf-8")


class DemoHis(HisAdapter):
    def __init__(self, fixture: Path | str = FIXTURE) -> None:
        self.fixture = Path(fixture)

    @cached_property
    def _data(self) -> dict[str, Any]:
        return json.loads(self.fixture.read_text(encoding="utf-8"))

    @property
    def source_system(self) -> str:  # type: ignore[override]
        return self._data["source_system"]

    @cached_property
    def _by_id_number(self) -> dict[str, dict[str, Any]]:
        index = {}
        for entry in self._data["patients"]:
            number = synthetic_id_number(
                entry["id_region"],
                date.fromisoformat(entry["birth_date"]),
                entry["id_serial"],
                entry["male"],
            )
            index[number] = entry
        return index

    def _entry(self, patient: HisPatient) -> dict[str, Any]:
        return self._by_id_number.get(patient.id_number, {})

    def find_patient(self, id_number: str) -> HisPatient | None:
        entry = self._by_id_number.get((id_number or "").strip().upper())
        if entry is None:
            return None
        return HisPatient(
            his_id=entry["his_id"],
            name=entry["name"],
            sex="1" if entry["male"] else "2",
            birth_date=date.fromisoformat(entry["birth_date"]),
            id_number=id_number.strip().upper(),
        )

    def diagnoses(self, patient: HisPatient) -> list[Diagnosis]:
        return [
            Diagnosis(
                code=d["code"],
                name=d["name"],
                recorded_at=parse_instant(d["recorded_at"]),
                source=f"demo-his:{d['visit']}",
            )
            for d in self._entry(patient).get("diagnoses", [])
        ]

    def reports(self, patient: HisPatient, kinds: Iterable[str] | None = None) -> list[Report]:
        found = [
            Report(
                kind=r["kind"],
                title=r["title"],
                issued_at=parse_instant(r["issued_at"]),
                issuer=r["issuer"],
                source_system=self.source_system,
                source_id=r["id"],
                mime_type=TEXT_MIME,
                content=render_report(patient, r),
                observations=[Observation(**o) for o in r.get("observations", [])],
            )
            for r in self._entry(patient).get("reports", [])
        ]
        found.sort(key=lambda r: r.issued_at)
        return filter_kinds(found, kinds)

    def labs(self, patient: HisPatient) -> dict[str, float]:
        return {k: float(v) for k, v in self._entry(patient).get("labs", {}).items()}

    def genes(self, patient: HisPatient) -> dict[str, str]:
        return dict(self._entry(patient).get("genes", {}))

    def prior_therapies(self, patient: HisPatient) -> list[str]:
        return list(self._entry(patient).get("prior_therapies", []))

    def inpatient_bill(self, patient: HisPatient, admission_no: str) -> list[BillItem]:
        """The demo's stay bill: the same three items for any stay of a known patient."""
        if not admission_no or not self._entry(patient):
            return []
        source = f"demo-his:stay:{admission_no}"
        return [
            BillItem(name, Decimal(amount), category, source)
            for name, amount, category in DEMO_STAY_BILL
        ]
