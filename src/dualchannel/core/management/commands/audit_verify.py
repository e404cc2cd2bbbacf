"""Verify the audit ledger: every broken link of every stream, and the heads against the
checkpoints kept outside the database (core.audit)."""

from django.core.management.base import BaseCommand, CommandError

from dualchannel.core.audit import checkpoint_path, verify_chain, verify_checkpoints
from dualchannel.core.models import AuditEvent


class Command(BaseCommand):
    help = "校验审计日志：报告每条链的所有断点，并与库外检查点比对 (exit 1 when broken)"

    def add_arguments(self, parser):
        parser.add_argument("--stream", help="only this stream's chain, e.g. inst:12 or platform")

    def handle(self, *args, stream=None, **options):
        breaks = list(verify_chain(stream))
        path = checkpoint_path()
        if not path.exists():
            self.stderr.write(
                f"WARNING no checkpoint file at {path}: deleted streams and removed tail events "
                "cannot be detected (run audit_checkpoint or the worker)"
            )
        else:
            checkpoint_breaks = verify_checkpoints()
            if stream:
                checkpoint_breaks = [b for b in checkpoint_breaks if _concerns(b, stream)]
            breaks.extend(checkpoint_breaks)
        if breaks:
            for found in breaks:
                self.stderr.write(f"BROKEN {found}")
            raise CommandError(f"audit ledger broken: {len(breaks)} break(s)")
        count = AuditEvent.objects.filter(**({"stream": stream} if stream else {})).count()
        self.stdout.write(f"OK: {count} events verified")


def _concerns(found, stream: str) -> bool:
    """A checkpoint break concerns every stream when it is the file's own."""
    return getattr(found, "stream", stream) == stream
