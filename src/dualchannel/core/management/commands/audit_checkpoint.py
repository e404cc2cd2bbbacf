"""Append a signed checkpoint of every moved audit stream head now (the worker does it too)."""

from django.core.management.base import BaseCommand, CommandError

from dualchannel.core.audit import checkpoint_path, write_checkpoint


class Command(BaseCommand):
    help = "把各审计链的链头写入库外检查点文件（签名、逐行链接）；链头与上次检查点不符时报错"

    def handle(self, *args, **options):
        run = write_checkpoint()
        for line in run.written:
            self.stdout.write(f"checkpoint line {line['n']}: {line['stream']} seq {line['seq']}")
        for refused in run.refused:
            self.stderr.write(f"REFUSED {refused}")
        self.stdout.write(f"{len(run.written)} stream(s) checkpointed in {checkpoint_path()}")
        if run.refused:
            raise CommandError(
                f"{len(run.refused)} stream(s) disagree with their last checkpoint; "
                "run audit_verify"
            )
