"""Import a national list edition: validate the whole file first, then write it in one transaction.

A file with any bad row is refused as a whole with the row number (1 = first data row) and the
field at fault; nothing of it is written. Re-importing the same edition changes nothing. A later
edition versions payment standards and restrictions by date: a changed drug's current rows are
closed the day before the new edition takes effect and new rows are added; unchanged drugs are
untouched; drugs missing from the new list stay (their agreement end date tells).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction

from dualchannel.core import audit
from dualchannel.core.errors import Conflict, DomainError
from dualchannel.core.models import User

from .models import Drug, ListEdition, ListSection, PaymentStandard, Restriction
from .parsing import (
    CONFIDENTIAL_MARK,
    INJECTION,
    ParsedStandard,
    ParseError,
    dosage_form_of,
    is_anti_cancer,
    needs_cold_chain,
    parse_payment_standards,
    pinyin_of,
    special_control_of,
)
from .workflow import draft_from_restriction

DATA_DIR = Path(__file__).resolve().parent / "data"
SHIPPED_FILE = DATA_DIR / "nrdl2025" / "nrdl2025_negotiated_west_and_bidding.json"
SHIPPED_EDITION = {
    "code": "NRDL2025",
    "title": "国家基本医疗保险、生育保险和工伤保险药品目录（2025年）协议期内谈判药品及竞价药品",
    "document_no": "医保发〔2025〕33号",
    "effective_from": date(2026, 1, 1),
}
REQUIRED_COLUMNS = ("section", "no", "name_zh", "class", "category_code", "payment_standard")
MAX_REPORTED_ERRORS = 20
_CATEGORY = re.compile(r"^X[A-Z](\d{2}([A-Z]{1,2}(\d{2})?)?)?$")
_PERIOD = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日至(\d{4})年(\d{1,2})月(\d{1,2})日")


class ImportFileError(DomainError):
    """The file was refused; ``errors`` lists (row, field, message), row 0 = the file itself."""

    def __init__(self, errors: list[tuple[int, str, str]]) -> None:
        self.errors = errors
        row, name, message = errors[0]
        where = f"第{row}行「{name}」" if row else f"「{name}」"
        more = f"（另有{len(errors) - 1}处错误）" if len(errors) > 1 else ""
        fields: dict[str, list[str]] = {}
        for err_row, err_field, err_message in errors[:MAX_REPORTED_ERRORS]:
            key = f"rows[{err_row}].{err_field}" if err_row else err_field
            fields.setdefault(key, []).append(err_message)
        super().__init__(
            "catalog.import_invalid",
            f"导入文件有误，未导入任何内容：{where}{message}{more}",
            fields=fields,
        )


@dataclass(frozen=True)
class ListRow:
    """One validated row of a list file."""

    row: int
    section: str
    list_no: int
    generic_name: str
    drug_class: str
    category_code: str
    payment_standard_text: str
    standards: list[ParsedStandard]
    agreement_text: str
    agreement_start: date | None
    agreement_end: date | None
    restriction: str
    pdf_page: int | None


@dataclass
class ImportReport:
    edition_code: str
    rows: int = 0
    drugs_created: int = 0
    drugs_updated: int = 0
    drugs_unchanged: int = 0
    drugs_missing_from_list: int = 0
    standards_added: int = 0
    standards_closed: int = 0
    restrictions_added: int = 0
    restrictions_closed: int = 0
    drafts_created: int = 0
    edition_created: bool = False
    changed_drugs: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("changed_drugs")
        return data


# --- reading and validation ---


def read_file(path: str | Path) -> tuple[list[dict], str]:
    """The raw rows of a ``.json`` (array of objects) or ``.csv`` file, and its SHA-256."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFileError([(0, "file", f"无法读取文件：{exc.strerror or exc}")]) from exc
    return parse_file_bytes(raw, path.suffix.lower()), hashlib.sha256(raw).hexdigest()


def parse_file_bytes(raw: bytes, suffix: str) -> list[dict]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError([(0, "file", "文件不是 UTF-8 编码")]) from exc
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportFileError([(0, "header", f"缺少列：{'、'.join(missing)}")])
        return [_csv_row(row) for row in reader]
    if suffix != ".json":
        raise ImportFileError([(0, "file", "只支持 .json 或 .csv 文件")])
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError([(0, "file", f"不是有效的 JSON（第{exc.lineno}行）")]) from exc
    if not isinstance(data, list):
        raise ImportFileError([(0, "file", "JSON 顶层应为条目数组")])
    return data


def _csv_row(row: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {key: (value if value != "" else None) for key, value in row.items()}
    if values.get("price_confidential") is not None:
        values["price_confidential"] = {"true": True, "false": False}.get(
            values["price_confidential"].strip().lower(), values["price_confidential"]
        )
    return values


def validate_rows(rows: list[Any]) -> list[ListRow]:
    """Every row checked; all errors collected; raises ``ImportFileError`` if any."""
    errors: list[tuple[int, str, str]] = []
    if not rows:
        raise ImportFileError([(0, "file", "文件中没有条目")])
    result: list[ListRow] = []
    names: dict[str, int] = {}
    numbers: dict[tuple[str, int], int] = {}
    for index, raw in enumerate(rows, start=1):
        row_errors: list[tuple[int, str, str]] = []
        parsed = _validate_row(index, raw, row_errors)
        if parsed is not None and not row_errors:
            if parsed.generic_name in names:
                row_errors.append(
                    (index, "name_zh", f"通用名与第{names[parsed.generic_name]}行重复")
                )
            key = (parsed.section, parsed.list_no)
            if key in numbers:
                row_errors.append((index, "no", f"序号与第{numbers[key]}行重复"))
            names.setdefault(parsed.generic_name, index)
            numbers.setdefault(key, index)
            result.append(parsed)
        errors.extend(row_errors)
    if errors:
        raise ImportFileError(errors)
    return result


class _RowReader:
    """Reads one raw row's fields, appending (row, field, message) for each problem."""

    def __init__(self, index: int, raw: dict, errors: list) -> None:
        self.index, self.raw, self.errors = index, raw, errors

    def error(self, name: str, message: str) -> None:
        self.errors.append((self.index, name, message))

    def text(self, name: str, *, required: bool, max_length: int = 500) -> str:
        value = self.raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.error(name, "不能为空")
            return ""
        if not isinstance(value, str):
            self.error(name, "应为文本")
            return ""
        if len(value.strip()) > max_length:
            self.error(name, f"超过{max_length}个字符")
        return value.strip()

    def section(self) -> str:
        section_text = self.text("section", required=True)
        if not section_text:
            return ""
        if "竞价" in section_text:
            return ListSection.BIDDING
        if "谈判" in section_text:
            return ListSection.NEGOTIATED_WESTERN
        self.error("section", f"无法识别的目录部分「{section_text}」")
        return ""

    def drug_class(self) -> str:
        drug_class = self.text("class", required=True)
        if drug_class and drug_class not in ("甲", "乙"):
            self.error("class", "甲乙类应为「甲」或「乙」")
        return drug_class

    def category(self) -> str:
        category = self.text("category_code", required=True, max_length=10).upper()
        if category and not _CATEGORY.match(category):
            self.error("category_code", f"分类代码「{category}」格式不正确")
        return category

    def payment(self) -> tuple[str, list[ParsedStandard]]:
        """The payment-standard text and its parsed standards; checks the confidential flag."""
        payment_text = self.text("payment_standard", required=True)
        standards: list[ParsedStandard] = []
        note = self.raw.get("payment_standard_note")
        if note is not None and not isinstance(note, dict):
            self.error("payment_standard_note", "应为对象")
            note = None
        if payment_text:
            try:
                standards = parse_payment_standards(payment_text, note)
            except ParseError as exc:
                self.error("payment_standard", str(exc))
        confidential = self.raw.get("price_confidential")
        if confidential is not None:
            if not isinstance(confidential, bool):
                self.error("price_confidential", "应为 true 或 false")
            elif payment_text and confidential != (payment_text == CONFIDENTIAL_MARK):
                self.error("price_confidential", "与支付标准是否为「*」不一致")
        return payment_text, standards

    def agreement(self) -> tuple[str, date | None, date | None]:
        """The agreement period's text and dates, the dates read from the text when not given."""
        period = self.text("agreement_period", required=False, max_length=100)
        start = _date(self.raw.get("agreement_start"), self.index, "agreement_start", self.errors)
        end = _date(self.raw.get("agreement_end"), self.index, "agreement_end", self.errors)
        if period and (start is None or end is None):
            found = _PERIOD.search(period)
            if found is None:
                self.error("agreement_period", f"无法识别的协议有效期「{period}」")
            else:
                numbers = [int(g) for g in found.groups()]
                try:
                    start = start or date(numbers[0], numbers[1], numbers[2])
                    end = end or date(numbers[3], numbers[4], numbers[5])
                except ValueError:
                    self.error("agreement_period", f"协议有效期「{period}」日期不存在")
        if start and end and start > end:
            self.error("agreement_end", "协议截止日期早于开始日期")
        return period, start, end

    def restriction(self) -> str:
        restriction = self.raw.get("restriction")
        if restriction is not None and not isinstance(restriction, str):
            self.error("restriction", "应为文本")
            return ""
        return (restriction or "").strip()


def _validate_row(index: int, raw: Any, errors: list) -> ListRow | None:
    if not isinstance(raw, dict):
        errors.append((index, "row", "条目应为对象"))
        return None
    read = _RowReader(index, raw, errors)
    section = read.section()
    list_no = _positive_int(raw.get("no"), index, "no", errors, required=True)
    name = read.text("name_zh", required=True, max_length=200)
    drug_class = read.drug_class()
    category = read.category()
    payment_text, standards = read.payment()
    period, start, end = read.agreement()
    restriction = read.restriction()
    pdf_page = _positive_int(raw.get("pdf_page"), index, "pdf_page", errors, required=False)
    if errors:
        return None
    return ListRow(
        row=index,
        section=section,
        list_no=list_no or 0,
        generic_name=name,
        drug_class=drug_class,
        category_code=category,
        payment_standard_text=payment_text,
        standards=standards,
        agreement_text=period,
        agreement_start=start,
        agreement_end=end,
        restriction=restriction,
        pdf_page=pdf_page,
    )


def _positive_int(value: Any, index: int, name: str, errors: list, *, required: bool):
    if value is None or value == "":
        if required:
            errors.append((index, name, "不能为空"))
        return None
    if isinstance(value, bool):
        errors.append((index, name, "应为正整数"))
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0:
        errors.append((index, name, "应为正整数"))
        return None
    return value


def _date(value: Any, index: int, name: str, errors: list) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append((index, name, "日期应为 YYYY-MM-DD 文本"))
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors.append((index, name, f"日期「{value}」格式不正确，应为 YYYY-MM-DD"))
        return None


# --- writing ---


def import_list_file(
    path: str | Path | None = None,
    *,
    code: str = SHIPPED_EDITION["code"],
    title: str = SHIPPED_EDITION["title"],
    document_no: str = SHIPPED_EDITION["document_no"],
    effective_from: date = SHIPPED_EDITION["effective_from"],
    actor: User | None = None,
) -> ImportReport:
    """Validate ``path`` (default: the shipped 2025 list) completely, then import it atomically."""
    rows, sha256 = read_file(path or SHIPPED_FILE)
    parsed = validate_rows(rows)
    return import_rows(
        parsed,
        code=code,
        title=title,
        document_no=document_no,
        effective_from=effective_from,
        sha256=sha256,
        actor=actor,
    )


def import_rows(
    rows: list[ListRow],
    *,
    code: str,
    title: str,
    document_no: str,
    effective_from: date,
    sha256: str,
    actor: User | None = None,
) -> ImportReport:
    if not code or not title:
        raise DomainError("catalog.edition_invalid", "目录版本代码和名称不能为空")
    report = ImportReport(edition_code=code, rows=len(rows))
    with transaction.atomic():
        edition = ListEdition.objects.select_for_update().filter(code=code).first()
        later = ListEdition.objects.exclude(code=code).filter(effective_from__gte=effective_from)
        if edition is not None:
            if edition.source_sha256 != sha256 or edition.effective_from != effective_from:
                raise Conflict(
                    "catalog.edition_conflict",
                    f"目录版本「{code}」已用另一文件或执行日期导入，请使用新的版本代码",
                )
        elif later.exists():
            raise Conflict(
                "catalog.edition_out_of_order",
                "新目录版本的执行日期必须晚于已导入的所有版本",
            )
        else:
            edition = ListEdition.objects.create(
                code=code,
                title=title,
                document_no=document_no,
                effective_from=effective_from,
                source_sha256=sha256,
                row_count=len(rows),
            )
            report.edition_created = True
        # Re-importing an edition that a later one has superseded would rewind history.
        if report.edition_created or not later.exists():
            _apply(rows, edition, report, actor)
        audit.record(
            actor=actor,
            action="catalog.list_imported",
            subject=edition,
            after=edition,
            role="agency_officer" if actor is not None else "",
            summary=report.counts(),
        )
    return report


def _apply(rows: list[ListRow], edition: ListEdition, report: ImportReport, actor) -> None:
    existing = {d.generic_name: d for d in Drug.objects.select_for_update().order_by("id")}
    current_standards: dict[int, list[PaymentStandard]] = {}
    for standard in PaymentStandard.objects.filter(effective_to__isnull=True).order_by("id"):
        current_standards.setdefault(standard.drug_id, []).append(standard)
    current_restrictions = {
        r.drug_id: r for r in Restriction.objects.filter(effective_to__isnull=True).order_by("id")
    }
    closing_date = edition.effective_from - timedelta(days=1)
    new_standards: list[PaymentStandard] = []
    new_restrictions: list[Restriction] = []
    seen: set[str] = set()

    for row in rows:
        seen.add(row.generic_name)
        drug = existing.get(row.generic_name)
        if drug is None:
            drug = _create_drug(row, edition)
            report.drugs_created += 1
        else:
            changed = _update_drug(drug, row, edition)
            olds = current_standards.get(drug.id, [])
            if sorted(s.source_text for s in olds) != sorted(s.source_text for s in row.standards):
                for old in olds:
                    old.effective_to = closing_date
                    old.save(update_fields=["effective_to"])
                report.standards_closed += len(olds)
                olds = []
                changed = True
            old_restriction = current_restrictions.get(drug.id)
            if old_restriction is not None and old_restriction.text != row.restriction:
                old_restriction.effective_to = closing_date
                old_restriction.save(update_fields=["effective_to"])
                report.restrictions_closed += 1
                current_restrictions.pop(drug.id)
                changed = True
            if changed:
                report.drugs_updated += 1
                report.changed_drugs.append(drug.generic_name)
            else:
                report.drugs_unchanged += 1
            if olds:
                # Unchanged: keep the current standards (and any amount an officer entered).
                current_standards[drug.id] = olds
            else:
                current_standards.pop(drug.id, None)
        if drug.id not in current_standards:
            new_standards.extend(_standard_rows(drug, row, edition))
        if drug.id not in current_restrictions:
            restriction = Restriction(
                drug=drug,
                edition=edition,
                text=row.restriction,
                effective_from=edition.effective_from,
            )
            new_restrictions.append(restriction)
    PaymentStandard.objects.bulk_create(new_standards)
    Restriction.objects.bulk_create(new_restrictions)
    report.standards_added = len(new_standards)
    report.restrictions_added = len(new_restrictions)
    report.drugs_missing_from_list = len(set(existing) - seen)
    for restriction in Restriction.objects.filter(
        effective_to__isnull=True, text__gt=""
    ).select_related("drug"):
        if draft_from_restriction(restriction.drug, restriction, actor=actor) is not None:
            report.drafts_created += 1


def _standard_rows(drug: Drug, row: ListRow, edition: ListEdition) -> Iterable[PaymentStandard]:
    for parsed in row.standards:
        yield PaymentStandard(
            drug=drug,
            edition=edition,
            specification=parsed.specification,
            unit=parsed.unit,
            amount=parsed.amount,
            is_confidential=parsed.is_confidential,
            tiered_note=parsed.tiered_note,
            note=parsed.note,
            source_text=parsed.source_text,
            effective_from=edition.effective_from,
        )


def _create_drug(row: ListRow, edition: ListEdition) -> Drug:
    initials, full = pinyin_of(row.generic_name)
    form = dosage_form_of(row.generic_name)
    return Drug.objects.create(
        generic_name=row.generic_name,
        pinyin_initials=initials,
        pinyin=full,
        dosage_form=form,
        category_code=row.category_code,
        drug_class=row.drug_class,
        section=row.section,
        list_no=row.list_no,
        is_negotiated=True,
        is_dual_channel=True,
        is_anti_cancer=is_anti_cancer(row.category_code),
        is_injectable=form == INJECTION,
        needs_cold_chain=needs_cold_chain(row.generic_name, row.category_code, form),
        special_control=special_control_of(row.generic_name),
        agreement_start=row.agreement_start,
        agreement_end=row.agreement_end,
        agreement_text=row.agreement_text,
        pdf_page=row.pdf_page,
        edition=edition,
    )


LIST_FIELDS = (
    "category_code",
    "drug_class",
    "section",
    "list_no",
    "agreement_start",
    "agreement_end",
    "agreement_text",
    "pdf_page",
)


def _update_drug(drug: Drug, row: ListRow, edition: ListEdition) -> bool:
    """Refresh the fields the list owns; flags an officer may have edited are left alone."""
    values = {
        "category_code": row.category_code,
        "drug_class": row.drug_class,
        "section": row.section,
        "list_no": row.list_no,
        "agreement_start": row.agreement_start,
        "agreement_end": row.agreement_end,
        "agreement_text": row.agreement_text,
        "pdf_page": row.pdf_page,
    }
    changed = [name for name in LIST_FIELDS if getattr(drug, name) != values[name]]
    for name in changed:
        setattr(drug, name, values[name])
    update = list(changed)
    if drug.edition_id != edition.id:
        drug.edition = edition
        update.append("edition")
    if update:
        drug.save(update_fields=update)
    return bool(changed)
