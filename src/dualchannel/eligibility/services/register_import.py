"""Import of the eligibilities a region already has [HB art. 49]: the agency's current register
as a CSV file (UTF-8 or GBK) or an Excel .xlsx file (its first sheet), read by
``core.tables.read_table``, with a header row of the column names in ``COLUMNS``, English or
Chinese; rows are numbered as the spreadsheet shows them (the header is row 1). Those who passed
the enrolment region's assessment before the platform need not apply again; their eligibility is
entered as it stands.

- **Dry run** (``register_import_check``): every row checked, every problem listed (row, column,
  code, Chinese message), nothing written: a bad ID check digit (``registry.invalid_id_number``
  from ``registry.validation.parse_id_number``), an unknown drug code
  (``eligibility.import_unknown_drug``), a hospital, physician or pharmacy not found in the
  region, a missing three-fixed pharmacy, bad dates or quantity, a person already holding a live
  eligibility for the drug, the same person and drug twice in the file.
- **Import** (``register_import``): all or nothing. Any problem refuses the whole file with
  ``eligibility.import_rows`` (the problems in ``fields``), nothing written. Otherwise in one
  transaction: persons not yet in the registry created through ``registry.services``, then per
  row an approved application marked as imported and its eligibility (``source=imported``, the
  batch), each with its history row ("" → approved / active) and audit event, and one audit
  event for the batch.
- A legacy ``.xls``, an encrypted or damaged ``.xlsx`` is refused (``eligibility.import_bad_file``).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from dualchannel.catalog.models import Drug
from dualchannel.catalog.selectors import published_criteria
from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.tables import EMPTY, TOO_MANY, TableRefused, read_table
from dualchannel.registry import services as registry_services
from dualchannel.registry.models import (
    BindingMode,
    InstitutionKind,
    InsuranceType,
    InsuredPerson,
    Physician,
    Region,
)
from dualchannel.registry.models import Institution as Inst
from dualchannel.registry.profiles import cited, profile_of
from dualchannel.registry.regions import is_within
from dualchannel.registry.selectors import officer_region
from dualchannel.registry.validation import parse_id_number

from .. import error_codes as codes
from ..models import (
    LIVE_ELIGIBILITY,
    Application,
    ApplicationStatus,
    ApplicationTransition,
    Eligibility,
    EligibilityImport,
    EligibilitySource,
    EligibilityStatus,
    EligibilityTransition,
)
from .common import day_or_today, next_application_no

MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
DEFAULT_CYCLE_DAYS = 90
IMPORTED_REASON = "既有用药资格导入"
UNKNOWN_DRUG = "eligibility.import_unknown_drug"
NOT_FOUND = "eligibility.import_not_found"
BAD_VALUE = "eligibility.import_bad_value"

# column → Chinese header; either may head the column
COLUMNS = {
    "id_number": "身份证号",
    "name": "姓名",
    "insurance_type": "参保类型",
    "drug_code": "医保药品代码",
    "diagnosis_code": "诊断编码",
    "diagnosis_name": "诊断名称",
    "hospital": "医疗机构统一社会信用代码",
    "physician": "责任医师代码",
    "pharmacy": "定点零售药店统一社会信用代码",
    "effective_from": "生效日期",
    "next_reevaluation_due": "下次复查评估截止日",
    "plan_total_quantity": "方案总药量",
    "quantity_unit": "总药量单位",
}
REQUIRED = (
    "id_number",
    "name",
    "drug_code",
    "diagnosis_code",
    "diagnosis_name",
    "hospital",
    "physician",
    "effective_from",
    "plan_total_quantity",
)


@dataclass(frozen=True)
class Problem:
    row: int  # the row number as the spreadsheet shows it (the header is row 1)
    field: str
    code: str
    message: str


@dataclass
class Row:
    row: int
    id_number: str
    name: str
    insurance_type: str
    person: InsuredPerson | None
    drug: Drug
    diagnosis_code: str
    diagnosis_name: str
    hospital: Inst
    physician: Physician
    pharmacy: Inst | None
    binding_mode: str
    criteria_set: Any
    effective_from: date
    next_due: date
    quantity: Decimal
    unit: str


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows)

    @property
    def new_persons(self) -> int:
        return len({r.id_number for r in self.rows if r.person is None})


# --- reading the file --------------------------------------------------------------------------


def read_rows(content: bytes, filename: str = "") -> list[tuple[int, dict[str, str]]]:
    """The rows as (row number as the spreadsheet shows it, column → text), read by
    ``core.tables`` from a CSV or .xlsx file; a file without the columns is refused."""
    try:
        table = read_table(content, filename, max_bytes=MAX_BYTES, max_rows=MAX_ROWS)
    except TableRefused as refused:
        code = {EMPTY: codes.IMPORT_EMPTY, TOO_MANY: codes.IMPORT_TOO_MANY}.get(
            refused.kind, codes.IMPORT_BAD_FILE
        )
        raise DomainError(code, refused.message, fields={"file": [refused.message]}) from None
    by_label = {label: key for key, label in COLUMNS.items()} | {k: k for k in COLUMNS}
    keys = [by_label.get(h) for h in table.header]
    missing = [COLUMNS[k] for k in REQUIRED if k not in keys]
    if missing:
        message = f"缺少列：{'、'.join(missing)}"
        raise DomainError(codes.IMPORT_BAD_FILE, message, fields={"file": [message]})
    return table.keyed(keys)


# --- checking one row --------------------------------------------------------------------------


class _RowError(Exception):
    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


def _date(raw: dict, key: str, *, required: bool) -> date | None:
    value = raw.get(key, "")
    if not value:
        if required:
            raise _RowError(key, BAD_VALUE, f"{COLUMNS[key]}必填")
        return None
    try:
        return date.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise _RowError(key, BAD_VALUE, f"{COLUMNS[key]}应为日期（如 2024-05-01）") from None


def _in_region(region: Region | None, code: str) -> bool:
    return region is None or is_within(code, region)


def _person(raw: dict, region: Region | None, today: date) -> tuple[str, InsuredPerson | None]:
    try:
        facts = parse_id_number(raw.get("id_number", ""), today=today)
    except DomainError as refused:
        raise _RowError("id_number", refused.code, refused.message) from None
    name = raw.get("name", "")
    if not name or len(name) > 50:
        raise _RowError("name", BAD_VALUE, "姓名必填，且不超过50字")
    person = InsuredPerson.objects.filter(id_number=facts.number).first()
    if person is None:
        if raw.get("insurance_type", "") not in InsuranceType.values:
            raise _RowError(
                "insurance_type", BAD_VALUE, "参保人尚未登记：参保类型须为职工（310）或居民（390）"
            )
    elif person.name != name:
        raise _RowError("name", BAD_VALUE, "姓名与参保登记不一致")
    elif not _in_region(region, person.enrolment_region_id):
        raise _RowError("id_number", NOT_FOUND, "参保人不在本经办机构辖区")
    return facts.number, person


def _institutions(raw: dict, region: Region | None) -> tuple[Inst, Physician, Inst | None, str]:
    hospital = Inst.objects.filter(
        credit_code=raw.get("hospital", "").upper(), kind=InstitutionKind.HOSPITAL
    ).first()
    if hospital is None or not _in_region(region, hospital.region_id):
        raise _RowError("hospital", NOT_FOUND, "本辖区内无此统一社会信用代码的医疗机构")
    physician = Physician.objects.filter(
        staff_code=raw.get("physician", ""), hospital=hospital
    ).first()
    if physician is None:
        raise _RowError("physician", NOT_FOUND, "该医疗机构无此医保医师代码的医师")
    pharmacy = None
    if raw.get("pharmacy"):
        pharmacy = Inst.objects.filter(
            credit_code=raw["pharmacy"].upper(), kind=InstitutionKind.PHARMACY
        ).first()
        if pharmacy is None or not _in_region(region, pharmacy.region_id):
            raise _RowError("pharmacy", NOT_FOUND, "本辖区内无此统一社会信用代码的定点零售药店")
    profile = profile_of(hospital)
    mode = profile.binding_mode if profile is not None else BindingMode.NONE
    if mode == BindingMode.THREE_FIXED and pharmacy is None:
        why = profile.citations_in_words.get("binding_mode", "")
        message = cited("三定管理须填写定点零售药店", why)
        raise _RowError("pharmacy", codes.PHARMACY_REQUIRED, message)
    return hospital, physician, pharmacy, mode


def _plan(raw: dict, today: date, effective_from: date, cycle: int) -> tuple[date, Decimal]:
    if effective_from > today:
        raise _RowError("effective_from", BAD_VALUE, "生效日期不能晚于今天")
    due = _date(raw, "next_reevaluation_due", required=False)
    due = due or effective_from + timedelta(days=cycle)
    if due <= effective_from:
        raise _RowError("next_reevaluation_due", BAD_VALUE, "下次复查评估截止日应晚于生效日期")
    try:
        quantity = Decimal(raw.get("plan_total_quantity", ""))
    except InvalidOperation:
        quantity = Decimal(0)
    if not quantity.is_finite() or quantity <= 0 or quantity >= Decimal("1e10"):
        raise _RowError("plan_total_quantity", BAD_VALUE, "方案总药量应为正数")
    return due, quantity.quantize(Decimal("0.01"))


def _row(n: int, raw: dict, region: Region | None, today: date) -> Row:
    id_number, person = _person(raw, region, today)
    drug = (
        Drug.objects.filter(national_code=raw.get("drug_code", "")).first()
        if raw.get("drug_code")
        else None
    )
    if drug is None:
        raise _RowError("drug_code", UNKNOWN_DRUG, "医保药品代码不存在")
    for key in ("diagnosis_code", "diagnosis_name"):
        if not raw.get(key) or len(raw[key]) > (30 if key == "diagnosis_code" else 200):
            raise _RowError(key, BAD_VALUE, f"{COLUMNS[key]}必填")
    hospital, physician, pharmacy, mode = _institutions(raw, region)
    criteria_set = published_criteria(drug, hospital.region)
    if criteria_set is None:
        raise _RowError("drug_code", codes.NO_CRITERIA, "该药品在本地区无已发布的认定条件")
    effective_from = _date(raw, "effective_from", required=True)
    cycle = criteria_set.evaluation_cycle_days or DEFAULT_CYCLE_DAYS
    due, quantity = _plan(raw, today, effective_from, cycle)
    if (
        person is not None
        and Eligibility.objects.filter(
            patient=person, drug=drug, status__in=LIVE_ELIGIBILITY
        ).exists()
    ):
        raise _RowError("drug_code", codes.DUPLICATE, "该参保人已有此药品的有效用药资格")
    return Row(
        n, id_number, raw["name"], raw.get("insurance_type", ""), person, drug,
        raw["diagnosis_code"], raw["diagnosis_name"], hospital, physician, pharmacy, mode,
        criteria_set, effective_from, due, quantity, raw.get("quantity_unit", "")[:20],
    )  # fmt: skip


def _import_region(actor: User) -> Region | None:
    require_role(actor, Role.AGENCY_OFFICER)
    return None if actor.is_superuser else officer_region(actor)


def register_import_check(
    *, actor: User, content: bytes, filename: str = "", today: date | None = None
) -> Report:
    """The dry run: every row checked, every problem listed, nothing written [HB art. 49]."""
    today = day_or_today(today)
    region = _import_region(actor)
    report = Report()
    seen: set[tuple[str, int]] = set()
    for n, raw in read_rows(content, filename):
        try:
            row = _row(n, raw, region, today)
        except _RowError as problem:
            report.problems.append(Problem(n, problem.field, problem.code, problem.message))
            continue
        if (row.id_number, row.drug.pk) in seen:
            report.problems.append(
                Problem(n, "drug_code", codes.DUPLICATE, "同一参保人同一药品在文件中重复")
            )
            continue
        seen.add((row.id_number, row.drug.pk))
        report.rows.append(row)
    return report


def refusal(report: Report) -> DomainError:
    first = report.problems[0]
    return DomainError(
        codes.IMPORT_ROWS,
        f"导入文件有 {len(report.problems)} 处错误，未导入任何数据（第 {first.row} 行："
        f"{first.message}）",
        fields={f"row{p.row}.{p.field}": [f"{p.code}：{p.message}"] for p in report.problems},
    )


# --- the import --------------------------------------------------------------------------------


def register_import(
    *, actor: User, content: bytes, filename: str = "", today: date | None = None
) -> EligibilityImport:
    """Import the register, all or nothing [HB art. 49]; any problem refuses the whole file."""
    today = day_or_today(today)
    report = register_import_check(actor=actor, content=content, filename=filename, today=today)
    if not report.ok:
        raise refusal(report)
    region = _import_region(actor) or report.rows[0].hospital.region
    try:
        with transaction.atomic():
            # the region first (core.locks): creating persons locks it again
            Region.objects.select_for_update().filter(code=region.code).first()
            batch = EligibilityImport.objects.create(
                import_no=f"tmp-{uuid.uuid4().hex}",
                region=region,
                filename=(filename or "").rsplit("/", 1)[-1][:200],
                sha256=hashlib.sha256(content).hexdigest(),
                rows=len(report.rows),
                persons_created=report.new_persons,
                imported_by=actor,
            )
            batch.import_no = f"DR{today:%Y%m%d}{batch.pk:06d}"
            batch.save(update_fields=["import_no"])
            persons = _persons(actor, report.rows, region, today)
            for row in report.rows:
                _write(actor, batch, row, persons[row.id_number], today)
            audit.record(
                actor=actor,
                action="eligibility.register_imported",
                subject=batch,
                after=batch,
                role=actor_role(actor),
                summary={
                    "import_no": batch.import_no,
                    "rows": batch.rows,
                    "persons_created": batch.persons_created,
                },
            )
    except IntegrityError:  # a live eligibility granted meanwhile for a row's person and drug
        raise Conflict(
            codes.DUPLICATE, "导入期间已有同一药品的有效用药资格，请重新校验后导入"
        ) from None
    return batch


def _persons(actor: User, rows: list[Row], region: Region, today: date) -> dict[str, InsuredPerson]:
    """Every row's person; those not yet registered created through the registry's service."""
    persons: dict[str, InsuredPerson] = {}
    for row in sorted(rows, key=lambda r: r.id_number):
        if row.id_number in persons:
            continue
        persons[row.id_number] = row.person or registry_services.insured_person_create(
            actor=actor,
            id_number=row.id_number,
            name=row.name,
            insurance_type=row.insurance_type,
            enrolment_region=region,
            today=today,
        )
    return persons


def _write(actor: User, batch: EligibilityImport, row: Row, person, today: date) -> None:
    application = Application.objects.create(
        application_no=next_application_no(today),
        patient=person,
        drug=row.drug,
        diagnosis_code=row.diagnosis_code,
        diagnosis_name=row.diagnosis_name,
        binding_mode=row.binding_mode,
        hospital=row.hospital,
        physician=row.physician,
        pharmacy=row.pharmacy,
        criteria_set=row.criteria_set,
        status=ApplicationStatus.APPROVED,
        created_by=actor,
        decided_by=actor,
        decision_reason=IMPORTED_REASON,
        total_quantity=row.quantity,
        quantity_unit=row.unit,
        period_start=row.effective_from,
        evaluation_cycle_days=(row.next_due - row.effective_from).days,
    )
    application.decided_at = application.created_at
    application.save(update_fields=["decided_at"])
    ApplicationTransition.objects.create(
        application=application, from_status="", to_status=application.status, actor=actor,
        reason=IMPORTED_REASON,
    )  # fmt: skip
    eligibility = Eligibility.objects.create(
        application=application,
        patient=person,
        drug=row.drug,
        hospital=row.hospital,
        physician=row.physician,
        pharmacy=row.pharmacy,
        status=EligibilityStatus.ACTIVE,
        effective_from=row.effective_from,
        next_reevaluation_due=row.next_due,
        plan_total_quantity=row.quantity,
        source=EligibilitySource.IMPORTED,
        import_batch=batch,
        filing_note="既有资格导入，未向平台备案",
    )
    EligibilityTransition.objects.create(
        eligibility=eligibility, from_status="", to_status=eligibility.status, actor=actor,
        reason=IMPORTED_REASON,
    )  # fmt: skip
    audit.record(
        actor=actor,
        action="eligibility.imported",
        subject=eligibility,
        after=eligibility,
        patient=person,
        role=actor_role(actor),
        summary={
            "import_no": batch.import_no,
            "row": row.row,
            "application_no": application.application_no,
            "effective_from": row.effective_from.isoformat(),
        },
    )
