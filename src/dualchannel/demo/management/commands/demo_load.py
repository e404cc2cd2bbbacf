"""Load the real reference data and the demo region, then print a login per role."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dualchannel.analytics.rollups import refresh_all
from dualchannel.core.models import User
from dualchannel.demo import supervision, world
from dualchannel.demo.monitoring_run import demo_monitoring_run
from dualchannel.inventory.models import TraceCode, TraceCodeStatus
from dualchannel.prescriptions.models import Prescription, PrescriptionStatus


class Command(BaseCommand):
    help = "加载区划、政策参数、2025年谈判药品目录、认定条件与演示数据，并打印各角色登录账号"

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="allow outside DEMO_MODE/DEBUG (known passwords!)"
        )

    def handle(self, *args, force=False, **options):
        if not (settings.DEMO_MODE or settings.DEBUG or force):
            raise CommandError("demo_load creates users with a known password: set DEMO_MODE=1")
        world.load_reference_data(stdout=self.stdout)
        if User.objects.filter(username="admin").exists():
            self.stdout.write("演示数据已存在，跳过创建。")
        else:
            world.load_demo_region()
            supervision.load_demo_supervision()
            self.stdout.write(
                "演示数据已创建：武汉市（湖北省规则）、济南市（山东省规则，上月双通道月报待报送）"
                "及合肥市（外区）。"
            )
            found = demo_monitoring_run()
            self.stdout.write(f"智能监控规则已按本月数据运行一次：发现 {found} 项。")
        rolled = refresh_all()  # the statistics page's rollups (the worker keeps them after)
        self.stdout.write(f"统计汇总已更新：新增结算 {rolled.settlements} 笔。")
        self._print_logins()
        self._print_counter_walkthrough()

    def _print_logins(self) -> None:
        self.stdout.write("")
        self.stdout.write(
            f"演示账号（密码均为 {world.DEMO_PASSWORD}；演示模式下免动态口令，"
            "正式环境中经办人员和管理员须绑定身份验证器）："
        )
        for login in supervision.all_demo_logins():
            self.stdout.write(f"  {login.username:<18} {login.role:<10} {login.who}")
        self.stdout.write("")
        base = os.environ.get("DEMO_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
        self.stdout.write(f"登录页  {base}/accounts/login/")
        self.stdout.write(f"公众查询 {base}/query/")
        self.stdout.write(f"接口文档 {base}/api/v1/docs")

    def _print_counter_walkthrough(self) -> None:
        """The prescription routed to the demo pharmacy and the boxes to scan for it, oldest
        expiry first (the counter suggests the same ones)."""
        routed = (
            Prescription.objects.filter(status=PrescriptionStatus.ROUTED)
            .select_related("pharmacy", "patient")
            .prefetch_related("items__drug")
            .order_by("pk")
            .first()
        )
        if routed is None:
            return
        self.stdout.write("")
        self.stdout.write(
            f"柜台演示：pharmacist 登录后打开 柜台，处方 {routed.prescription_no}"
            f"（{routed.pharmacy.name}），可扫描以下追溯码："
        )
        for item in routed.items.all():
            codes = TraceCode.objects.filter(
                drug=item.drug,
                status=TraceCodeStatus.IN_STOCK,
                stock_item__pharmacy=routed.pharmacy,
            ).order_by("stock_item__expiry_date", "code")[:3]
            for code in codes:
                self.stdout.write(f"  {item.drug.generic_name}  {code.code}")
