"""Make the local platform simulator fail its next calls (demo of retries), or clear that."""

from django.core.management.base import BaseCommand, CommandError

from dualchannel.simulators.models import FaultMode
from dualchannel.simulators.platform import simulator_clear_faults, simulator_fail_next


class Command(BaseCommand):
    help = "模拟医保平台故障：接下来 N 次调用返回繁忙（-1）或超时；--clear 清除"

    def add_arguments(self, parser):
        parser.add_argument("--next", type=int, default=1, help="失败次数")
        parser.add_argument("--mode", choices=FaultMode.values, default=FaultMode.ERROR)
        parser.add_argument("--infno", default="", help="仅此交易编号失败（默认全部）")
        parser.add_argument("--clear", action="store_true", help="清除所有故障开关")

    def handle(self, *args, **options):
        if options["clear"]:
            simulator_clear_faults()
            self.stdout.write("已清除模拟故障")
            return
        if options["next"] < 1:
            raise CommandError("--next 应为正整数")
        fault = simulator_fail_next(options["next"], mode=options["mode"], infno=options["infno"])
        self.stdout.write(
            f"模拟平台接下来 {fault.remaining} 次调用将失败（{fault.get_mode_display()}）"
        )
