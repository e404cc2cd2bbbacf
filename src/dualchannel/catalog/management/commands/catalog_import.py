"""``manage.py catalog_import [PATH] [--edition CODE] [--effective-from YYYY-MM-DD] …``.

Without arguments it imports the shipped 2025 list (医保发〔2025〕33号, in force 2026-01-01).
"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from dualchannel.catalog.importer import SHIPPED_EDITION, SHIPPED_FILE, import_list_file
from dualchannel.core.errors import DomainError
from dualchannel.core.models import User


class Command(BaseCommand):
    help = "导入国家医保目录（谈判药品）文件；整个文件校验通过后才写入，可重复执行。"

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=str(SHIPPED_FILE), help=".json 或 .csv")
        parser.add_argument("--edition", default=SHIPPED_EDITION["code"], help="版本代码")
        parser.add_argument(
            "--effective-from",
            default=SHIPPED_EDITION["effective_from"].isoformat(),
            help="执行日期 YYYY-MM-DD",
        )
        parser.add_argument("--title", default=SHIPPED_EDITION["title"])
        parser.add_argument("--document-no", default=SHIPPED_EDITION["document_no"])
        parser.add_argument("--user", default="", help="记入审计的操作用户名（可选）")

    def handle(self, *args, **options):
        try:
            effective_from = date.fromisoformat(options["effective_from"])
        except ValueError as exc:
            raise CommandError("--effective-from 应为 YYYY-MM-DD") from exc
        actor = None
        if options["user"]:
            actor = User.objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"用户不存在：{options['user']}")
        try:
            report = import_list_file(
                options["path"],
                code=options["edition"],
                title=options["title"],
                document_no=options["document_no"],
                effective_from=effective_from,
                actor=actor,
            )
        except DomainError as exc:
            details = "".join(
                f"\n  {name}: {'；'.join(messages)}" for name, messages in exc.fields.items()
            )
            raise CommandError(f"{exc.message}{details}") from exc
        counts = report.counts()
        self.stdout.write(
            self.style.SUCCESS(
                f"目录 {report.edition_code}：{report.rows} 条；"
                f"新增药品 {counts['drugs_created']}，变更 {counts['drugs_updated']}，"
                f"未变 {counts['drugs_unchanged']}，本版未列 {counts['drugs_missing_from_list']}；"
                f"支付标准 +{counts['standards_added']}/-{counts['standards_closed']}；"
                f"限定支付范围 +{counts['restrictions_added']}/-{counts['restrictions_closed']}；"
                f"拟定认定条件 {counts['drafts_created']}"
            )
        )
