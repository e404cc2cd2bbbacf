"""Write a city's Shandong monthly table as .xlsx [SD §10 and its annex].

    manage.py report_monthly_sd --region 370100 --month 2026-03 --out 济南-2026-03.xlsx

A submitted month is written as submitted (its frozen figures); otherwise the live figures.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dualchannel.core.errors import DomainError
from dualchannel.registry.models import Region, RegionLevel

from ...sd_report import monthly_file
from ...selectors import parse_month


class Command(BaseCommand):
    help = "生成山东省《全市谈判药品“双通道”管理工作情况统计表》（.xlsx）"

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="地市级区划代码，如 370100")
        parser.add_argument("--month", required=True, help="月份，YYYY-MM")
        parser.add_argument("--out", required=True, help="输出文件路径（.xlsx）")

    def handle(self, *args, region: str, month: str, out: str, **options):
        city = Region.objects.filter(code=region.strip()).first()
        if city is None or city.level != RegionLevel.CITY:
            raise CommandError(f"区划代码 {region} 不是地市级区划")
        try:
            month_day = parse_month(month)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        content, _table = monthly_file(city, month_day, unit=f"{city.name}医疗保障局")
        Path(out).write_bytes(content)
        self.stdout.write(f"已写入 {out}（{city.name} {month_day:%Y-%m}）")
