"""A hand-computed world for the Shandong monthly table [SD §10], March 2026 in 济南市.

Counted as of 2026-03-31 (expected figures in ``EXPECTED``):

Drugs (national list): 甲 in period (2026-01-01…2027-12-31), 乙 ended 2026-03-30, 丙 ends
2026-03-31 (the last day counts), 丁 starts 2026-04-01, 戊 not negotiated, 己 negotiated but
not dual-channel, 庚 no dates (its list edition took effect 2026-01-01): in period = 甲 丙 庚.
平阴县 has its own dual-channel list in force (甲 乙): 甲 only. 历下区's own list expired
2026-02-28 (not in force): the national three. 历城区 has no list: three.

Pharmacies: 历下区 P1 active 2026-02-10 (即时结算, 电子处方); P2 active then suspended
2026-03-15 (no); P3 active 2026-03-31 23:00 (即时结算 only); P4 active 2026-04-01 00:30 (no).
平阴县 P5 active 2026-01-05 (电子处方 only); P6 exited 2026-03-01 (no); P7 active 2026-03-10
(both); a designated hospital (no). 历城区: none. 青岛市南区 P9 (another city).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from dualchannel.catalog.models import RegionalList, RegionalListEntry, RegionalListKind
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.registry.models import (
    DesignationStatus,
    DesignationTransition,
    InstitutionKind,
    PolicyProfile,
    Region,
    RegionLevel,
)
from dualchannel.registry.tests.factories import (
    DesignationFactory,
    InstitutionFactory,
    make_drug,
    region,
)

SH = ZoneInfo("Asia/Shanghai")
MARCH = date(2026, 3, 1)
AFTER_MARCH = date(2026, 4, 20)  # "today" for the tests that build March's table
S = DesignationStatus

# county code → (序号, name, drugs, pharmacies, with real-time settlement, with e-prescription)
EXPECTED = {
    "370102": (1, "历下区", 3, 2, 2, 1),
    "370112": (2, "历城区", 3, 0, 0, 0),
    "370124": (3, "平阴县", 1, 2, 1, 2),
}
EXPECTED_TOTAL = ("合计", 3, 4, 3, 3)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SH)


def extra_region(code: str, name: str, level: str, parent: Region, urban: bool) -> Region:
    obj, _ = Region.objects.get_or_create(
        code=code,
        defaults={
            "name": name,
            "level": level,
            "parent": parent,
            "is_urban_district": urban,
            "is_county_level": level == RegionLevel.COUNTY,
        },
    )
    return obj


def regions() -> dict[str, Region]:
    province = region("370000")
    jinan = region("370100")
    qingdao = extra_region("370200", "青岛市", RegionLevel.CITY, province, False)
    return {
        "province": province,
        "jinan": jinan,
        "lixia": region("370102"),
        "licheng": extra_region("370112", "历城区", RegionLevel.COUNTY, jinan, True),
        "pingyin": region("370124"),
        "qingdao": qingdao,
        "shinan": extra_region("370202", "市南区", RegionLevel.COUNTY, qingdao, True),
    }


def pharmacy(
    county: Region,
    history,
    *,
    realtime=False,
    e_rx=False,
    kind=InstitutionKind.PHARMACY,
    since: date | None = None,
):
    """A pharmacy of ``county`` whose designation went through ``history`` [(time, status)];
    its flags date from ``since`` (default: the designation's first day)."""
    since = since or history[0][0].date()
    inst = InstitutionFactory(
        kind=kind,
        region=county,
        hospital_level=None if kind == InstitutionKind.PHARMACY else 3,
        realtime_settlement=realtime,
        e_prescription_connected=e_rx,
        realtime_settlement_since=since if realtime else None,
        e_prescription_since=since if e_rx else None,
    )
    designation = DesignationFactory(institution=inst, status=history[-1][1])
    previous = ""
    for when, status in history:
        DesignationTransition.objects.create(
            designation=designation, from_status=previous, to_status=status, at=when
        )
        previous = status
    return inst


def drugs() -> dict[str, object]:
    return {
        "甲": make_drug(
            "甲药", "jy", agreement_start=date(2026, 1, 1), agreement_end=date(2027, 12, 31)
        ),
        "乙": make_drug(
            "乙药", "yy", agreement_start=date(2024, 1, 1), agreement_end=date(2026, 3, 30)
        ),
        "丙": make_drug(
            "丙药", "by", agreement_start=date(2024, 1, 1), agreement_end=date(2026, 3, 31)
        ),
        "丁": make_drug(
            "丁药", "dy", agreement_start=date(2026, 4, 1), agreement_end=date(2027, 12, 31)
        ),
        "戊": make_drug("戊药", "wy", is_negotiated=False),
        "己": make_drug(
            "己药",
            "jiy",
            is_dual_channel=False,
            agreement_start=date(2026, 1, 1),
            agreement_end=date(2027, 12, 31),
        ),
        "庚": make_drug("庚药", "gy"),
    }


def regional_list(county: Region, drug_list, valid_from: date, valid_to: date | None):
    listing = RegionalList.objects.create(
        region=county,
        kind=RegionalListKind.DUAL_CHANNEL,
        title=f"{county.name}双通道管理药品目录",
        valid_from=valid_from,
        valid_to=valid_to,
        source_sha256="0" * 64,
    )
    for row, drug in enumerate(drug_list, 2):
        RegionalListEntry.objects.create(
            regional_list=listing, drug=drug, valid_from=valid_from, valid_to=valid_to, row=row
        )
    return listing


def officer(region_obj: Region, name: str):
    agency = InstitutionFactory(
        kind=InstitutionKind.AGENCY, region=region_obj, hospital_level=None, name=name
    )
    return UserFactory(institution=agency, roles=[Role.AGENCY_OFFICER], display_name=name[:8])


def shandong_profile(province: Region) -> PolicyProfile:
    """Shandong's profile as shipped for the monthly table: due by the 10th [SD §10]."""
    profile, _ = PolicyProfile.objects.update_or_create(
        region=province,
        defaults={"name": "山东省谈判药品双通道管理", "monthly_table_due_day": 10},
    )
    return profile


def build_world() -> dict:
    r = regions()
    shandong_profile(r["province"])
    d = drugs()
    regional_list(r["pingyin"], [d["甲"], d["乙"]], date(2026, 1, 1), None)
    regional_list(r["lixia"], [d["甲"]], date(2025, 1, 1), date(2026, 2, 28))
    pharmacy(r["lixia"], [(at(2026, 2, 10, 9), S.ACTIVE)], realtime=True, e_rx=True)
    pharmacy(
        r["lixia"],
        [(at(2026, 2, 1, 9), S.ACTIVE), (at(2026, 3, 15, 9), S.SUSPENDED)],
        realtime=True,
        e_rx=True,
    )
    pharmacy(r["lixia"], [(at(2026, 3, 31, 23), S.ACTIVE)], realtime=True)
    pharmacy(r["lixia"], [(at(2026, 4, 1, 0, 30), S.ACTIVE)], realtime=True, e_rx=True)
    pharmacy(r["pingyin"], [(at(2026, 1, 5, 9), S.ACTIVE)], e_rx=True)
    pharmacy(
        r["pingyin"],
        [(at(2026, 1, 5, 9), S.ACTIVE), (at(2026, 3, 1, 9), S.EXITED)],
        realtime=True,
        e_rx=True,
    )
    pharmacy(r["pingyin"], [(at(2026, 3, 10, 9), S.ACTIVE)], realtime=True, e_rx=True)
    pharmacy(
        r["pingyin"], [(at(2026, 1, 5, 9), S.ACTIVE)], realtime=True, kind=InstitutionKind.HOSPITAL
    )
    pharmacy(r["shinan"], [(at(2026, 1, 5, 9), S.ACTIVE)], realtime=True, e_rx=True)
    return {
        **r,
        "drugs": d,
        "province_officer": officer(r["province"], "山东省医疗保障局"),
        "jinan_officer": officer(r["jinan"], "济南市医疗保障局"),
        "lixia_officer": officer(r["lixia"], "济南市历下区医疗保障局"),
        "qingdao_officer": officer(r["qingdao"], "青岛市医疗保障局"),
    }
