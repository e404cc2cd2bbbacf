"""Out-of-area (异地) purchases: where the person is enrolled against where they are treated
[HB art. 40–41, AH §2(5), CX art. 17].

A pure read, used by routing, the counter, the hospital desk, the manual claims and the
platform simulator alike:

- local (本地): the treating place is in the enrolment pooling region (same city code);
- in-province (省内异地): another pooling region of the same province — settled directly, no
  filing needed [HB art. 40], unless the enrolment province's profile says not yet
  (``in_province_direct_settlement`` False, AH §2(5)): then the person pays and claims at home;
- cross-province with a filing valid on the day for the treating place (跨省异地·已备案): settled
  directly [HB art. 41];
- cross-province without one (跨省异地·未备案): not settled with the fund at the counter; the
  person pays in full and claims manually at home [HB art. 41, CX art. 17].

Whichever it is, benefits follow the enrolment region (参保地待遇): its benefit rules,
deductible, ceilings and accumulators; the drug list in force is the treating place's (就医地目录).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Q

from .models import InsuredPerson, OutOfAreaFiling, PolicyProfile, Region
from .regions import ancestors

LOCAL = "local"
IN_PROVINCE = "in_province"
CROSS_PROVINCE_FILED = "cross_province_filed"
CROSS_PROVINCE_UNFILED = "cross_province_unfiled"

LABELS = {
    LOCAL: "本地就医",
    IN_PROVINCE: "省内异地",
    CROSS_PROVINCE_FILED: "跨省异地（已备案）",
    CROSS_PROVINCE_UNFILED: "跨省异地（未备案）",
}
# the platform's flag: "0" local, "1" out of area [uncertain: the field name is configurable]
OUT_SETL_FLAG = {LOCAL: "0"}


def pooling_code(region_code: str) -> str:
    """The pooling region (统筹区) a code lies in: its city (the first four digits)."""
    return (region_code or "")[:4]


def province_code(region_code: str) -> str:
    return (region_code or "")[:2]


@dataclass(frozen=True)
class OutOfArea:
    kind: str
    enrolment_region: str  # code of 参保地
    treating_region: str  # code of 就医地
    direct: bool  # settled directly with the fund
    filing_no: str = ""
    enrolment_name: str = ""  # names for people (pages, receipts); the codes are the facts
    treating_name: str = ""

    @property
    def is_out_of_area(self) -> bool:
        return self.kind != LOCAL

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    @property
    def out_setl_flag(self) -> str:
        return OUT_SETL_FLAG.get(self.kind, "1")

    @property
    def rules_note(self) -> str:
        """Which rules apply, in words (the counter page and the receipt show it)."""
        if self.kind == LOCAL:
            return "执行本统筹区目录和待遇政策"
        if self.direct:
            basis = "无需备案" if self.kind == IN_PROVINCE else f"备案号 {self.filing_no}"
            return (
                f"直接结算（{basis}）：执行就医地药品目录，"
                f"参保地（{self.enrolment_name or self.enrolment_region}）待遇政策"
            )
        if self.kind == IN_PROVINCE:
            return "参保地尚未开通省内异地直接结算：全额自付后凭票据回参保地手工（零星）报销"
        return "未办理异地就医备案，不能直接结算：全额自付后凭票据回参保地手工（零星）报销"

    def as_facts(self) -> dict[str, str]:
        """What a settlement keeps of it (in its parameters) and transmits."""
        return {
            "kind": self.kind,
            "enrolment_region": self.enrolment_region,
            "treating_region": self.treating_region,
            "filing_no": self.filing_no,
        }


def valid_filing(person: InsuredPerson, treating: Region, on: date) -> OutOfAreaFiling | None:
    """The person's cross-province filing that covers ``treating`` on ``on`` (the newest)."""
    codes = [r.code for r in ancestors(treating)]
    return (
        OutOfAreaFiling.objects.filter(in_force_on(on), person=person, treating_region_id__in=codes)
        .order_by("-valid_from", "-pk")
        .first()
    )


def in_force_on(on: date) -> Q:
    """Filings that cover ``on``: within their period, not cancelled by then (撤销备案: from
    the cancellation day on a purchase there is self-pay and claimed at home) [HB art. 41]."""
    return Q(valid_from__lte=on, valid_to__gte=on) & (
        Q(cancelled_on__isnull=True) | Q(cancelled_on__gt=on)
    )


def valid_filings(person: InsuredPerson, on: date) -> list[OutOfAreaFiling]:
    """The person's cross-province filings valid on ``on`` (with their treating regions)."""
    return list(
        OutOfAreaFiling.objects.filter(in_force_on(on), person=person)
        .select_related("treating_region")
        .order_by("pk")
    )


def _in_province_direct(person: InsuredPerson) -> bool:
    codes = [r.code for r in ancestors(person.enrolment_region)]
    profiles = {p.region_id: p for p in PolicyProfile.objects.filter(region_id__in=codes)}
    for code in codes:
        if code in profiles:
            return profiles[code].in_province_direct_settlement
    return True  # the national rule: in-province direct settlement


def out_of_area_of(person: InsuredPerson, treating: Region, on: date) -> OutOfArea:
    """Where ``person`` stands when treated (or buying) in ``treating`` on ``on``."""
    home = person.enrolment_region_id
    where = treating.code
    names = {
        "enrolment_name": _place_name(person.enrolment_region),
        "treating_name": _place_name(treating),
    }
    if pooling_code(home) == pooling_code(where):
        return OutOfArea(LOCAL, home, where, True, **names)
    if province_code(home) == province_code(where):
        return OutOfArea(IN_PROVINCE, home, where, _in_province_direct(person), **names)
    filing = valid_filing(person, treating, on)
    if filing is not None:
        return OutOfArea(CROSS_PROVINCE_FILED, home, where, True, filing.filing_no, **names)
    return OutOfArea(CROSS_PROVINCE_UNFILED, home, where, False, **names)


def _place_name(region: Region) -> str:
    """江岸区 → 武汉市江岸区: the city's name before a county's (one parent up)."""
    chain = ancestors(region)  # the parents are cached per process
    parent = chain[1] if len(chain) > 1 else None
    if parent is not None and parent.level != "province":
        return f"{parent.name}{region.name}"
    return region.name
