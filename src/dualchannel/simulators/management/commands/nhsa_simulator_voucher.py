"""Show a patient's e-voucher (医保电子凭证) as the simulated platform issues it: a fresh token
to scan (type or paste) at the counter, valid a few minutes (demo and manual tests)."""

from django.core.management.base import BaseCommand, CommandError

from dualchannel.core.models import User
from dualchannel.simulators.platform import simulator_voucher_issue


class Command(BaseCommand):
    help = "模拟医保电子凭证：为参保人生成一次性电子凭证码（在药店柜台选择“医保电子凭证”后录入）"

    def add_arguments(self, parser):
        parser.add_argument("--user", default="", help="参保人的登录用户名（演示账号）")
        parser.add_argument("--id-number", default="", help="或参保人身份证号")

    def handle(self, *args, **options):
        id_number = options["id_number"].strip()
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            person = user.insured_person if user is not None else None
            if person is None:
                raise CommandError("未找到该参保人账号")
            id_number = person.id_number
        if not id_number:
            raise CommandError("请指定 --user 或 --id-number")
        voucher = simulator_voucher_issue(id_number)
        self.stdout.write(voucher.token)
        self.stderr.write(f"有效至 {voucher.expires_at:%Y-%m-%d %H:%M:%S}（UTC），一次发药有效")
