"""Load a year's statutory holidays and make-up working days from a CSV file.

CSV columns: ``date,kind,name`` with kind ``holiday`` (放假) or ``workday`` (调休上班); only the
exceptions to Monday-Friday are listed. Example for a State Council notice:

    date,kind,name
    2027-01-01,holiday,元旦
"""

import csv
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dualchannel.core.calendar import calendar_year_load
from dualchannel.core.errors import DomainError
from dualchannel.core.models import User

KINDS = {"holiday": False, "放假": False, "休": False, "workday": True, "上班": True, "班": True}


def read_calendar_csv(path: Path) -> list[tuple[date, bool, str]]:
    days = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            try:
                day = date.fromisoformat((row.get("date") or "").strip())
            except ValueError as exc:
                raise CommandError(f"第{number}行：日期应为 YYYY-MM-DD") from exc
            kind = (row.get("kind") or "").strip()
            if kind not in KINDS:
                raise CommandError(f"第{number}行：kind 应为 holiday 或 workday")
            days.append((day, KINDS[kind], (row.get("name") or "").strip()))
    return days


class Command(BaseCommand):
    help = "导入某年法定节假日与调休安排（CSV: date,kind,name）"

    def add_arguments(self, parser):
        parser.add_argument("year", type=int)
        parser.add_argument("csv_path", type=Path)
        parser.add_argument("--document-no", required=True, help="国务院办公厅通知文号")
        parser.add_argument("--user", help="username of the agency officer loading it")

    def handle(self, *args, year, csv_path, document_no, user=None, **options):
        actor = User.objects.get(username=user) if user else None
        try:
            loaded = calendar_year_load(
                actor=actor, year=year, days=read_calendar_csv(csv_path), document_no=document_no
            )
        except DomainError as exc:
            details = "；".join(m for msgs in exc.fields.values() for m in msgs)
            raise CommandError(f"{exc.message} {details}".strip()) from exc
        self.stdout.write(f"{loaded.year}年节假日安排已导入：{loaded.days.count()} 个调整日")
