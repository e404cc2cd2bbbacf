"""Recompute the statistics' rollups from detail, then check them against it (issue 13).

manage.py rollup_rebuild            # forget the rollups, roll every settlement up again
manage.py rollup_rebuild --check    # only compare rollups with detail (exit 1 on a difference)
manage.py rollup_rebuild --refresh  # only take in what is new (what the worker does)
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ...rollups import rebuild, refresh_all, rollup_differences


class Command(BaseCommand):
    help = "按结算明细重算统计汇总表，并核对汇总与明细（精确到分）"

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="只核对，不重算")
        parser.add_argument("--refresh", action="store_true", help="只汇总新增结算、冲销与处方流转")
        parser.add_argument(
            "--limit", type=int, default=5000, help="每个事务处理的结算数（处方、取药记录同）"
        )

    def handle(self, *args, check: bool, refresh: bool, limit: int, **options):
        if not check:
            result = refresh_all(limit=limit) if refresh else rebuild(limit=limit)
            self.stdout.write(
                f"汇总结算 {result.settlements} 笔，冲销 {result.reversals} 笔，"
                f"开具处方 {result.issued} 张，流转处方 {result.routed} 张，"
                f"取药 {result.dispensings} 次，"
                f"数据截至 {result.refreshed_at:%Y-%m-%d %H:%M:%S}"
            )
        differences = rollup_differences()
        for line in differences[:50]:
            self.stderr.write(line)
        if differences:
            raise CommandError(f"汇总与明细不一致：{len(differences)} 处")
        self.stdout.write("汇总与明细一致（精确到分）")
