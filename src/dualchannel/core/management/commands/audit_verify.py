"""Verify the hash chain of the audit ledger; name the first broken link of each stream."""

from django.core.management.base import BaseCommand, CommandError

from dualchannel.core.audit import verify_chain
from dualchannel.core.models import AuditEvent


class Command(BaseCommand):
    help = "校验审计日志哈希链，报告每条链第一个断点 (exit 1 when broken)"

    def add_arguments(self, parser):
        parser.add_argument("--stream", help="only this stream, e.g. inst:12 or platform")

    def handle(self, *args, stream=None, **options):
        breaks = verify_chain(stream)
        if breaks:
            for found in breaks:
                self.stderr.write(f"BROKEN {found}")
            raise CommandError(f"audit ledger broken in {len(breaks)} stream(s)")
        count = AuditEvent.objects.filter(**({"stream": stream} if stream else {})).count()
        self.stdout.write(f"OK: {count} events verified")
