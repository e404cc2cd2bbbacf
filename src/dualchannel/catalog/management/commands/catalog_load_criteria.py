"""``manage.py catalog_load_criteria [--dir DIR]``: publish the authored criteria (idempotent)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dualchannel.catalog.authored import CRITERIA_DIR, load_authored_criteria
from dualchannel.core.errors import DomainError


class Command(BaseCommand):
    help = "载入人工编制的结构化认定条件并发布（需先执行 catalog_import），可重复执行。"

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=str(CRITERIA_DIR), help="认定条件 JSON 所在目录")

    def handle(self, *args, **options):
        try:
            report = load_authored_criteria(Path(options["dir"]))
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"认定条件：发布 {len(report.published)} 套，未变 {len(report.unchanged)} 套"
            )
        )
