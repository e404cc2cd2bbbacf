"""The agency's supervision in the demo [SD §10, HB art. 26, 48]: a Shandong city (济南市, the
Shandong profile) whose counties' dual-channel pharmacies fill last month's monthly table, with a
county's progress text entered and the table left for the city to submit; a public complaint in
the Wuhan officers' queue; a spot check of the Wuhan hospital's decided cases, drawn.

Created through the services, like the rest of the demo (``world``): decisions taken before the
demo's day are recorded with their dates (``designation_*(at=)``, ``*_since``).
"""

from __future__ import annotations

from datetime import datetime, time

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from dualchannel.analytics.services import county_progress_save
from dualchannel.complaints.services import complaint_submit
from dualchannel.core.locks import mark_several_transactions
from dualchannel.core.models import User
from dualchannel.core.months import previous_month
from dualchannel.core.roles import Role
from dualchannel.core.services import user_create_staff
from dualchannel.inspection.services import spot_check_draw
from dualchannel.registry import services as registry
from dualchannel.registry.identifiers import synthetic_credit_code
from dualchannel.registry.models import DesignationStatus, Institution, InstitutionKind

from .world import DEMO_PASSWORD, Login, demo_logins

SD_PROVINCE = "370000"
SD_CITY = "370100"  # 济南市, under the Shandong profile (the table is due by the 10th)
LIXIA, PINGYIN = "370102", "370124"  # 历下区 (urban district), 平阴县
LIXIA_PROGRESS = (
    "历下区2家“双通道”药店均已实现即时联网结算，其中1家已接入电子处方流转平台；"
    "本月组织辖区药店开展谈判药品配备情况自查，未发现缺药断供。"
)
# (name, county, address, phone, e-prescription from: months before last month's first day —
# None: connected only this month, so last month's table does not count it)
SD_PHARMACIES = (
    ("历下演示大药房", LIXIA, "济南市历下区泉城路演示号", "0531-85550001", 2),
    ("泉城演示医药连锁", LIXIA, "济南市历下区经十路演示号", "0531-85550002", None),
    ("平阴演示药店", PINGYIN, "济南市平阴县榆山路演示号", "0531-85550003", 1),
)


def supervision_logins() -> list[Login]:
    return [
        Login("officer_sd", "医保经办人员", "郑经办 · 山东省医疗保障局（看各市月报、按季通报）"),
        Login("officer_jinan", "医保经办人员", "王经办 · 济南市医疗保障局（生成、报送月报）"),
        Login("officer_lixia", "医保经办人员", "刘经办 · 济南市历下区医疗保障局（填报进展）"),
    ]


def all_demo_logins() -> list[Login]:
    """Every login ``demo_load`` makes (printed by it; the browser tests sign in with them)."""
    return [*demo_logins(), *supervision_logins()]


def _officer(admin: User, serial: int, username: str, who: str, region: str, agency: str) -> User:
    institution = registry.institution_create(
        actor=admin,
        kind=InstitutionKind.AGENCY,
        name=agency,
        credit_code=synthetic_credit_code(region, serial),
        region=region,
        address=f"{agency.removesuffix('（演示）')}演示路1号",
    )
    return user_create_staff(
        actor=None,
        username=username,
        display_name=who,
        password=DEMO_PASSWORD,
        roles=(Role.AGENCY_OFFICER,),
        otp_exempt=True,  # demo users only, while DEMO_MODE is on (core.security)
        institution=institution,
    )


def _designated_since(officer: User, institution: Institution, start: datetime) -> None:
    """Designated from ``start`` (applied, evaluated, publicised, signed, active: a day each)."""
    at = start
    designation = registry.designation_apply(actor=officer, institution=institution, at=at)
    for status in (
        DesignationStatus.EVALUATED,
        DesignationStatus.PUBLICISED,
        DesignationStatus.AGREEMENT_SIGNED,
        DesignationStatus.ACTIVE,
    ):
        at += relativedelta(days=1)
        designation = registry.designation_transition(
            actor=officer,
            designation=designation,
            to_status=status,
            reason="演示数据",
            agreement_no=f"JN-SC-{institution.pk:04d}" if status == "agreement_signed" else None,
            at=at,
        )


def _jinan_pharmacies(officer: User, last_month) -> list[Institution]:
    """Three pharmacies designated three months ago, real-time settlement from then on."""
    start = last_month - relativedelta(months=2)
    start_at = timezone.make_aware(datetime.combine(start, time(9)))
    pharmacies = []
    for serial, (name, county, address, phone, e_rx) in enumerate(SD_PHARMACIES, 20):
        e_rx_since = (
            last_month - relativedelta(months=e_rx) if e_rx is not None else timezone.localdate()
        )
        pharmacy = registry.institution_create(
            actor=officer,
            kind=InstitutionKind.PHARMACY,
            name=name,
            credit_code=synthetic_credit_code(county, serial),
            region=county,
            address=address,
            phone=phone,
            platform_code=f"P{county}{serial:05d}",
            has_biologics_licence=True,
            has_cold_chain=True,
            traceability_enabled=True,
            realtime_settlement=True,
            realtime_settlement_since=start,
            e_prescription_connected=True,
            e_prescription_since=e_rx_since,
        )
        _designated_since(officer, pharmacy, start_at)
        pharmacies.append(pharmacy)
    return pharmacies


def _shandong(admin: User) -> None:
    """济南市 and its officers (province, city, 历下区); last month's progress of 历下区."""
    today = timezone.localdate()
    last_month = previous_month(today)
    _officer(admin, 2, "officer_sd", "郑经办", SD_PROVINCE, "山东省医疗保障局（演示）")
    city = _officer(admin, 3, "officer_jinan", "王经办", SD_CITY, "济南市医疗保障局（演示）")
    county = _officer(admin, 4, "officer_lixia", "刘经办", LIXIA, "济南市历下区医疗保障局（演示）")
    _jinan_pharmacies(city, last_month)
    county_progress_save(
        actor=county, county_code=LIXIA, month=last_month.strftime("%Y-%m"), text=LIXIA_PROGRESS
    )


def _wuhan_complaint() -> None:
    """A member of the public reports that a pharmacy charged above the payment standard."""
    pharmacy = Institution.objects.get(name="武昌演示医药连锁")
    complaint_submit(
        category="overpriced",
        text="在武昌演示医药连锁购买二甲双胍，自付金额比上个月高，怀疑超过医保支付标准收费。",
        contact_phone="13900001234",
        contact_name="市民甲",
        institution_id=pharmacy.pk,
    )


def _wuhan_spot_check(officer: User) -> None:
    """A spot check of 武汉演示协和医院's cases decided in the last year (a fixed seed)."""
    hospital = Institution.objects.get(name="武汉演示协和医院")
    today = timezone.localdate()
    spot_check_draw(
        actor=officer,
        hospital_id=hospital.pk,
        period_from=today - relativedelta(years=1),
        period_to=today,
        sample_size=2,
        seed="demo",
    )


@transaction.atomic
def load_demo_supervision() -> list[Login]:
    """After ``world.load_demo_region``: the Shandong city, a complaint and a spot check."""
    mark_several_transactions()
    admin = User.objects.get(username="admin")
    _shandong(admin)
    _wuhan_complaint()
    _wuhan_spot_check(User.objects.get(username="officer"))
    return supervision_logins()
