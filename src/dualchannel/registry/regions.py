"""Administrative regions: loading the vendored NBS list and subtree helpers by code prefix."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Q, QuerySet

from .models import Region, RegionLevel

DATA_DIR = Path(__file__).resolve().parent / "data" / "admin_divisions"

# County-type units whose names end in 区 but are not urban districts (市辖区).
_NOT_URBAN_SUFFIXES = ("林区", "特区")


@dataclass(frozen=True)
class RegionRow:
    code: str
    name: str
    level: str
    parent_id: str | None
    is_county_level: bool
    is_urban_district: bool


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _is_urban(name: str) -> bool:
    return name.endswith("区") and not name.endswith(_NOT_URBAN_SUFFIXES)


def read_rows(data_dir: Path = DATA_DIR) -> list[RegionRow]:
    """Province, city and county rows in that order, collisions folded into the city row."""

    def read(name: str) -> list[dict[str, str]]:
        with (data_dir / name).open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    rows: dict[str, RegionRow] = {}
    for p in read("provinces.csv"):
        code = p["code"].ljust(6, "0")
        rows[code] = RegionRow(code, p["name"], RegionLevel.PROVINCE, None, False, False)
    for c in read("cities.csv"):
        code = c["code"].ljust(6, "0")
        parent = c["provinceCode"].ljust(6, "0")
        rows[code] = RegionRow(code, c["name"], RegionLevel.CITY, parent, False, False)
    for a in read("areas.csv"):
        code = a["code"]
        parent = a["cityCode"].ljust(6, "0")
        existing = rows.get(code)
        if existing is not None:
            # 东莞市 441900, 中山市 442000, 儋州市 460400: a city without counties is itself the
            # county-level unit; keep one row, level city.
            rows[code] = RegionRow(
                code,
                existing.name,
                existing.level,
                existing.parent_id,
                True,
                _is_urban(a["name"]),
            )
            continue
        rows[code] = RegionRow(
            code, a["name"], RegionLevel.COUNTY, parent, True, _is_urban(a["name"])
        )
    return list(rows.values())


@transaction.atomic
def load_regions(data_dir: Path = DATA_DIR) -> LoadResult:
    """Insert or update every region of the vendored list; idempotent, never deletes."""
    wanted = read_rows(data_dir)
    existing = {r.code: r for r in Region.objects.select_for_update()}
    created: list[Region] = []
    changed: list[Region] = []
    fields = ["name", "level", "parent_id", "is_county_level", "is_urban_district"]
    order = {RegionLevel.PROVINCE: 0, RegionLevel.CITY: 1, RegionLevel.COUNTY: 2}
    for row in sorted(wanted, key=lambda r: (order[r.level], r.code)):
        obj = existing.get(row.code)
        if obj is None:
            created.append(
                Region(
                    code=row.code,
                    name=row.name,
                    level=row.level,
                    parent_id=row.parent_id,
                    is_county_level=row.is_county_level,
                    is_urban_district=row.is_urban_district,
                )
            )
            continue
        if any(getattr(obj, f) != getattr(row, f) for f in fields):
            for f in fields:
                setattr(obj, f, getattr(row, f))
            changed.append(obj)
    # Parents first: provinces, then cities, then counties.
    for level in (RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY):
        Region.objects.bulk_create([r for r in created if r.level == level], batch_size=500)
    if changed:
        Region.objects.bulk_update(
            changed,
            ["name", "level", "parent", "is_county_level", "is_urban_district"],
            batch_size=500,
        )
    transaction.on_commit(forget_parents)
    return LoadResult(len(created), len(changed), len(wanted) - len(created) - len(changed))


def region_subtree_q(region: Region, field: str = "code") -> Q:
    """A filter matching ``region`` and all its descendants on a region-code field."""
    return Q(**{f"{field}__startswith": region.code_prefix})


def region_subtree(region: Region) -> QuerySet[Region]:
    """The region and all its descendants."""
    return Region.objects.filter(region_subtree_q(region))


def regions_within(region: Region, *, level: str | None = None) -> QuerySet[Region]:
    """Descendants of ``region`` (itself excluded), optionally of one level."""
    qs = region_subtree(region).exclude(code=region.code)
    if level is not None:
        qs = qs.filter(level=level)
    return qs


def is_within(region_code: str, ancestor: Region) -> bool:
    """Whether the region with ``region_code`` is ``ancestor`` or lies inside it."""
    return region_code.startswith(ancestor.code_prefix)


def ancestors(region: Region) -> list[Region]:
    """The region itself, then its parent, up to the province (nearest first).

    The parents come from a per-process cache: the regions are reference data that only
    ``load_regions`` changes (it clears the cache; other processes see a change within
    ``PARENTS_TTL_S``). The counter, the criteria and the policy profiles ask this on every
    request; read from the database it was a query per level."""
    if region.parent_id is None:
        return [region]
    return [region, *_parents(region.parent_id)]


PARENTS_TTL_S = 300.0
_parents_cache: dict[str, tuple[float, tuple[Region, ...]]] = {}


def _parents(code: str) -> tuple[Region, ...]:
    now = time.monotonic()
    cached = _parents_cache.get(code)
    if cached is not None and now - cached[0] < PARENTS_TTL_S:
        return cached[1]
    # The usual chain in one query (county → city → province by code), the rest level by level.
    guesses = {code, code[:4] + "00", code[:2] + "0000"}
    found = {r.code: r for r in Region.objects.filter(code__in=guesses)}
    chain: list[Region] = []
    current = found.get(code) or Region.objects.filter(code=code).first()
    while current is not None:
        chain.append(current)
        parent = current.parent_id
        current = None if parent is None else (found.get(parent) or Region.objects.get(code=parent))
    _parents_cache[code] = (now, tuple(chain))
    return tuple(chain)


def forget_parents() -> None:
    """Drop the cached chains (after the regions were reloaded; between tests)."""
    _parents_cache.clear()
