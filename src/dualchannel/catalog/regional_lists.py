"""Regional drug lists [SD §1, CX art. 3, 4, 6, 7; HB ch. 2]: a province or pooling region
publishes its own lists on top of the national one (separately-paid drugs, Chuxiong's annual
adjustment of its dual-channel drugs, non-negotiated chronic-disease drugs) as dated data.

The catalogue administrator (an agency officer, for their agency's region or inside it; an admin
for any region) imports a list from a CSV file (UTF-8 or GBK) or an Excel .xlsx file (its first
sheet), read by ``core.tables.read_table``, with a header row. Columns, English or Chinese:

    drug_code / 医保药品代码   the national drug code (23 characters), or
    generic_name / 通用名      the generic name as in the national list (one of the two is needed)
    valid_from / 生效日期      YYYY-MM-DD, blank: the list's own date
    valid_to / 失效日期        YYYY-MM-DD, blank: the list's own end (or open)
    note / 备注                free text

The JSON API also takes the rows themselves, a list of objects keyed as the columns above
(``rows_from_json``; the first object is row 1), checked the same way.

The whole file is checked first and every row's problem reported (rows numbered as the
spreadsheet shows them: the header is row 1, the first data row row 2); a file with any problem
is refused as a whole and nothing is written. ``dry_run`` checks and reports
what would be written, and writes nothing. A list of a region and kind may not overlap another in
time, except that an open-ended earlier list is closed the day before the new one starts (the
annual adjustment replaces last year's list [CX art. 4]). A legacy .xls, an encrypted or damaged
.xlsx is refused (``catalog.regional_list_invalid``) with nothing written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot
from dualchannel.core.errors import Conflict, DomainError, NotFound
from dualchannel.core.models import User
from dualchannel.core.permissions import actor_role, require_role
from dualchannel.core.roles import Role
from dualchannel.core.tables import TableRefused, read_table
from dualchannel.registry.models import Region

from .models import Drug, RegionalList, RegionalListEntry, RegionalListKind
from .selectors import criteria_region_covered

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_REPORTED_ERRORS = 50
COLUMNS = {
    "drug_code": ("drug_code", "医保药品代码", "药品代码"),
    "generic_name": ("generic_name", "通用名", "药品通用名"),
    "valid_from": ("valid_from", "生效日期"),
    "valid_to": ("valid_to", "失效日期"),
    "note": ("note", "备注"),
}

INVALID = "catalog.regional_list_invalid"
OVERLAP = "catalog.regional_list_overlap"
REGION_NOT_FOUND = "catalog.region_not_found"


class RegionalListFileError(DomainError):
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
            INVALID, f"地方目录文件有误，未导入任何内容：{where}{message}{more}", fields=fields
        )


@dataclass(frozen=True)
class EntryRow:
    row: int
    drug: Drug
    valid_from: date
    valid_to: date | None
    note: str


@dataclass
class RegionalListReport:
    """What an import wrote, or (dry run) would write."""

    dry_run: bool
    region: str
    kind: str
    title: str
    valid_from: date
    valid_to: date | None
    rows: int
    entries: list[EntryRow] = field(default_factory=list)
    closes: RegionalList | None = None  # the earlier open-ended list closed the day before
    regional_list: RegionalList | None = None


@dataclass(frozen=True)
class ListHeader:
    region: Region
    kind: str
    title: str
    document_no: str
    valid_from: date
    valid_to: date | None


# --- reading -----------------------------------------------------------------------------------


def _date(value: Any, row: int, name: str, errors: list) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        errors.append((row, name, f"日期「{str(value)[:20]}」格式有误，应为 YYYY-MM-DD"))
        return None


def read_rows(raw: bytes, filename: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of an uploaded CSV or .xlsx file (``core.tables``) as (row number as the
    spreadsheet shows it, English column name → text)."""
    try:
        table = read_table(raw, filename, max_bytes=MAX_FILE_BYTES, max_rows=MAX_ROWS)
    except TableRefused as refused:
        raise RegionalListFileError([(0, "file", refused.message)]) from None
    keys: list[str | None] = [None] * len(table.header)
    for key, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in table.header:
                keys[table.header.index(alias)] = key
                break
    if "drug_code" not in keys and "generic_name" not in keys:
        raise RegionalListFileError([(0, "header", "缺少列：医保药品代码（drug_code）或通用名")])
    return table.keyed(keys)


def rows_from_json(items: Any) -> list[tuple[int, dict[str, str]]]:
    """JSON rows (a list of objects, keys as the file's columns, English or Chinese) as the
    file's rows are read: numbered from 1 in the list's order, values as trimmed text. Every
    row's problem is reported; anything wrong refuses the whole list."""
    if not isinstance(items, list):
        raise RegionalListFileError([(0, "rows", "须为对象列表")])
    if not items:
        raise RegionalListFileError([(0, "rows", "没有条目")])
    if len(items) > MAX_ROWS:
        raise RegionalListFileError([(0, "rows", f"条目超过{MAX_ROWS}行")])
    alias = {name: key for key, names in COLUMNS.items() for name in names}
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[tuple[int, str, str]] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            errors.append((number, "row", "每行须为一个对象"))
            continue
        row: dict[str, str] = {}
        for name, value in item.items():
            key = alias.get(str(name).strip())
            if key is None:
                continue  # as an unknown column of a file: not read
            if value is None:
                value = ""
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                errors.append((number, key, "须为文本"))
                continue
            row[key] = str(value).strip()
        rows.append((number, row))
    if errors:
        raise RegionalListFileError(errors)
    return rows


def clean_header(
    *,
    region_code: str,
    kind: str,
    title: str,
    document_no: str = "",
    valid_from: date | str | None,
    valid_to: date | str | None = None,
) -> ListHeader:
    """The list's own data; every problem is reported (row 0)."""
    errors: list[tuple[int, str, str]] = []
    region = Region.objects.filter(code=(region_code or "").strip()).first()
    if region is None:
        errors.append((0, "region", "区划不存在"))
    if kind not in RegionalListKind.values:
        errors.append((0, "kind", "目录类别无效"))
    title = (title or "").strip()
    if not title:
        errors.append((0, "title", "请填写目录名称"))
    elif len(title) > 200:
        errors.append((0, "title", "目录名称不超过200字"))
    document_no = (document_no or "").strip()
    if len(document_no) > 100:
        errors.append((0, "document_no", "文号不超过100字"))
    start = _date(valid_from, 0, "valid_from", errors)
    end = _date(valid_to, 0, "valid_to", errors)
    if start is None and not any(e[1] == "valid_from" for e in errors):
        errors.append((0, "valid_from", "请填写执行日期"))
    if start and end and end < start:
        errors.append((0, "valid_to", "截止日期早于执行日期"))
    if errors:
        raise RegionalListFileError(errors)
    return ListHeader(region, kind, title, document_no, start, end)


def validate_entries(header: ListHeader, rows: list[tuple[int, dict[str, str]]]) -> list[EntryRow]:
    """Every row checked against the catalogue and the list's dates; all errors collected."""
    if not rows:
        raise RegionalListFileError([(0, "file", "文件中没有条目")])
    errors: list[tuple[int, str, str]] = []
    codes = {r.get("drug_code") for _, r in rows if r.get("drug_code")}
    names = {r.get("generic_name") for _, r in rows if r.get("generic_name")}
    by_code = {d.national_code: d for d in Drug.objects.filter(national_code__in=codes)}
    by_name = {d.generic_name: d for d in Drug.objects.filter(generic_name__in=names)}
    result: list[EntryRow] = []
    seen: dict[int, list[EntryRow]] = {}
    for index, row in rows:
        before = len(errors)
        code, name = row.get("drug_code", ""), row.get("generic_name", "")
        drug = None
        if code:
            drug = by_code.get(code)
            if drug is None:
                errors.append((index, "drug_code", f"未知药品代码「{code[:30]}」"))
            elif name and name != drug.generic_name:
                errors.append(
                    (index, "generic_name", f"通用名与药品代码不符（目录为{drug.generic_name}）")
                )
        elif name:
            drug = by_name.get(name)
            if drug is None:
                errors.append((index, "generic_name", f"目录中没有通用名「{name[:50]}」"))
        else:
            errors.append((index, "drug_code", "医保药品代码与通用名不能都为空"))
        start = _date(row.get("valid_from"), index, "valid_from", errors) or header.valid_from
        end = _date(row.get("valid_to"), index, "valid_to", errors) or header.valid_to
        if start < header.valid_from:
            errors.append((index, "valid_from", f"早于目录执行日期{header.valid_from}"))
        if header.valid_to and end and end > header.valid_to:
            errors.append((index, "valid_to", f"晚于目录截止日期{header.valid_to}"))
        if end and end < start:
            errors.append((index, "valid_to", "失效日期早于生效日期"))
        note = row.get("note", "")
        if len(note) > 300:
            errors.append((index, "note", "备注不超过300字"))
        if drug is None or len(errors) > before:
            continue
        entry = EntryRow(index, drug, start, end, note)
        for other in seen.get(drug.pk, []):
            if _overlaps(start, end, other.valid_from, other.valid_to):
                errors.append(
                    (index, "valid_from", f"{drug.generic_name}与第{other.row}行的日期重叠")
                )
                break
        else:
            seen.setdefault(drug.pk, []).append(entry)
            result.append(entry)
    if errors:
        raise RegionalListFileError(errors)
    return result


def _overlaps(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (b_to is None or a_from <= b_to) and (a_to is None or b_from <= a_to)


def _overlapping_lists(header: ListHeader, *, lock: bool) -> tuple[RegionalList | None, list]:
    """The earlier open-ended list to close, and the lists the new one would overlap."""
    qs = RegionalList.objects.filter(region=header.region, kind=header.kind)
    if lock:
        qs = qs.select_for_update()
    qs = qs.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=header.valid_from))
    if header.valid_to is not None:
        qs = qs.filter(valid_from__lte=header.valid_to)
    closes, clashes = None, []
    for other in qs.order_by("pk"):
        if other.valid_to is None and other.valid_from < header.valid_from:
            closes = other
        else:
            clashes.append(other)
    return closes, clashes


def _refuse_overlap(clashes: list[RegionalList]) -> None:
    if clashes:
        other = clashes[0]
        until = other.valid_to.isoformat() if other.valid_to else "长期"
        raise Conflict(
            OVERLAP,
            f"与已导入的「{other.title}」（{other.valid_from.isoformat()}至{until}）日期重叠，"
            "未导入任何内容",
            fields={"valid_from": ["与已有目录重叠"]},
        )


# --- the service -------------------------------------------------------------------------------


def _close_previous(actor: User, closes: RegionalList, new_from: date) -> None:
    """End last year's open list the day before the new one starts (audited)."""
    before = snapshot(closes)
    closes.valid_to = new_from - timedelta(days=1)
    closes.save(update_fields=["valid_to"])
    audit.record(
        actor=actor,
        role=actor_role(actor),
        action="catalog.regional_list_closed",
        subject=closes,
        before=before,
        after=closes,
        summary={
            "region": closes.region_id,
            "kind": closes.kind,
            "to": closes.valid_to.isoformat(),
        },
    )


def _write_list(
    actor: User, header, entries: list, *, raw: bytes, filename: str, closes: RegionalList | None
) -> RegionalList:
    """The list, its entries and its audit event."""
    listing = RegionalList.objects.create(
        region=header.region,
        kind=header.kind,
        title=header.title,
        document_no=header.document_no,
        valid_from=header.valid_from,
        valid_to=header.valid_to,
        source_name=(filename or "")[:200],
        source_sha256=hashlib.sha256(raw).hexdigest(),
        row_count=len(entries),
        created_by=actor,
    )
    RegionalListEntry.objects.bulk_create(
        RegionalListEntry(
            regional_list=listing,
            drug=e.drug,
            valid_from=e.valid_from,
            valid_to=e.valid_to,
            note=e.note,
            row=e.row,
        )
        for e in entries
    )
    audit.record(
        actor=actor,
        role=actor_role(actor),
        action="catalog.regional_list_imported",
        subject=listing,
        after=listing,
        summary={
            "region": listing.region_id,
            "kind": listing.kind,
            "entries": len(entries),
            "closed": closes.pk if closes else None,
        },
    )
    return listing


def regional_list_import(
    *,
    actor: User,
    region_code: str,
    kind: str,
    title: str,
    valid_from: date | str | None,
    valid_to: date | str | None = None,
    document_no: str = "",
    raw: bytes = b"",
    filename: str = "",
    rows: list[dict[str, Any]] | None = None,
    dry_run: bool = True,
) -> RegionalListReport:
    """Check a regional list (a file, or JSON ``rows``: a list of objects keyed as the file's
    columns) and, unless ``dry_run``, write it in one transaction."""
    require_role(actor, Role.AGENCY_OFFICER)
    header = clean_header(
        region_code=region_code,
        kind=kind,
        title=title,
        document_no=document_no,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    if not criteria_region_covered(actor, header.region.code):
        raise NotFound(REGION_NOT_FOUND, "区划不存在")
    if rows is not None:
        parsed = rows_from_json(rows)
        # the source kept for the record: the rows as canonical JSON
        raw = json.dumps(rows, ensure_ascii=False, sort_keys=True).encode("utf-8")
        filename = filename or "rows.json"
    else:
        parsed = read_rows(raw, filename)
    entries = validate_entries(header, parsed)
    report = RegionalListReport(
        dry_run=dry_run,
        region=header.region.code,
        kind=header.kind,
        title=header.title,
        valid_from=header.valid_from,
        valid_to=header.valid_to,
        rows=len(parsed),
        entries=entries,
    )
    if dry_run:
        report.closes, clashes = _overlapping_lists(header, lock=False)
        _refuse_overlap(clashes)
        return report
    with transaction.atomic():
        # core.locks order: the region row first, then the lists of that region and kind
        Region.objects.select_for_update().filter(pk=header.region.pk).first()
        closes, clashes = _overlapping_lists(header, lock=True)
        _refuse_overlap(clashes)
        if closes is not None:
            _close_previous(actor, closes, header.valid_from)
        listing = _write_list(actor, header, entries, raw=raw, filename=filename, closes=closes)
    report.closes, report.regional_list = closes, listing
    return report
