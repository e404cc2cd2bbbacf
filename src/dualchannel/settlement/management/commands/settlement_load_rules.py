from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dualchannel.core.errors import DomainError
from dualchannel.settlement.rules import RULES_FILE, benefit_rules_load


class Command(BaseCommand):
    help = "Load benefit rules (deductibles, ratios, ceilings, layers) from a JSON file."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=str(RULES_FILE))

    def handle(self, *args, path: str, **options):
        try:
            count = benefit_rules_load(Path(path))
        except (DomainError, OSError, ValueError, KeyError) as exc:
            raise CommandError(f"未导入：{getattr(exc, 'message', exc)}") from exc
        self.stdout.write(f"已导入 {count} 条待遇政策参数")
