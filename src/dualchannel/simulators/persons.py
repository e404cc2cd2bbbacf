"""Insured persons the simulated platform knows who are not (yet) in the registry.

The platform's person query (1101) answers first from the registry (the people the demo and the
tests registered); beyond it, from this short list of synthetic persons, so that a hospital or an
officer can be shown fetching a person the registry does not hold [national 1101]. The ID
numbers are computed (``registry.identifiers.synthetic_id_number``); no real personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from dualchannel.registry.identifiers import synthetic_id_number


@dataclass(frozen=True)
class PlatformOnlyPerson:
    name: str
    birth: date
    male: bool
    id_region: str
    serial: int
    insutype: str
    insuplc_admdvs: str
    psn_insu_stas: str = "1"  # 1 正常参保, 2 暂停参保, 4 终止参保
    paus_insu_date: str = ""

    @property
    def id_number(self) -> str:
        return synthetic_id_number(self.id_region, self.birth, self.serial, self.male)

    @property
    def psn_no(self) -> str:
        return f"{self.insuplc_admdvs}9{self.id_number[6:14]}{self.serial:05d}"


PLATFORM_ONLY = (
    # The demo hospital's HIS holds her (``integration/fixtures/demo_his.json``), the registry
    # does not: the physician fetches her from the platform on 我的申请.
    PlatformOnlyPerson("赵敏", date(1969, 5, 18), False, "420102", 6, "310", "420102"),
    # A resident of Wuchang whose insurance is paused (暂停参保) since 2026-01-01.
    PlatformOnlyPerson(
        "钱进", date(1958, 10, 2), True, "420106", 7, "390", "420106", "2", "2026-01-01"
    ),
)


@cache
def _by_id_number() -> dict[str, PlatformOnlyPerson]:
    return {p.id_number: p for p in PLATFORM_ONLY}


def platform_only_person(id_number: str) -> PlatformOnlyPerson | None:
    return _by_id_number().get(id_number.upper())
