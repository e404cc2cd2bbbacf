import csv

import pytest

from dualchannel.registry.models import Region, RegionLevel
from dualchannel.registry.regions import (
    DATA_DIR,
    ancestors,
    load_regions,
    region_subtree,
    regions_within,
)


@pytest.mark.django_db
def test_load_regions_builds_the_whole_tree_and_is_idempotent():
    # when
    first = load_regions()
    second = load_regions()

    # then: 31 provinces, 342 city-level rows (three of them also county-level units)
    assert first.created == 31 + 342 + 2978 - 3
    assert second.created == 0 and second.updated == 0 and second.unchanged == first.created
    assert Region.objects.filter(level=RegionLevel.PROVINCE).count() == 31
    assert Region.objects.filter(level=RegionLevel.CITY).count() == 342
    assert Region.objects.filter(level=RegionLevel.COUNTY).count() == 2978 - 3

    # every area code of the file is present, as a county or as a county-level city row
    with (DATA_DIR / "areas.csv").open(encoding="utf-8") as fh:
        area_codes = {row["code"] for row in csv.DictReader(fh)}
    stored = set(Region.objects.filter(is_county_level=True).values_list("code", flat=True))
    assert area_codes == stored

    # collisions: 东莞市 is one row, level city, county-level, child of 广东省
    dongguan = Region.objects.get(code="441900")
    assert (dongguan.name, dongguan.level, dongguan.parent_id) == ("东莞市", "city", "440000")
    assert dongguan.is_county_level and not dongguan.is_urban_district
    assert Region.objects.get(code="460400").is_county_level  # 儋州市

    # parents and the urban-district flag [SD §6]
    jiang_an = Region.objects.get(code="420102")
    assert jiang_an.parent_id == "420100" and jiang_an.parent.parent_id == "420000"
    assert jiang_an.is_urban_district
    assert Region.objects.get(code="420115").is_urban_district  # 江夏区
    assert not Region.objects.get(code="340121").is_urban_district  # 长丰县
    assert not Region.objects.get(code="429021").is_urban_district  # 神农架林区

    # subtree helpers by code prefix
    hubei = Region.objects.get(code="420000")
    wuhan = Region.objects.get(code="420100")
    assert region_subtree(wuhan).count() == 1 + regions_within(wuhan).count()
    assert set(regions_within(wuhan).values_list("parent_id", flat=True)) == {"420100"}
    assert regions_within(hubei, level=RegionLevel.CITY).filter(code="420100").exists()
    assert not region_subtree(wuhan).filter(code="420200").exists()


@pytest.mark.django_db
def test_load_regions_repairs_a_changed_name():
    # given
    load_regions()
    Region.objects.filter(code="420102").update(name="改错的名字")

    # when
    result = load_regions()

    # then
    assert result.updated == 1
    assert Region.objects.get(code="420102").name == "江岸区"


@pytest.mark.django_db
def test_a_regions_parents_are_read_once_and_read_again_after_a_reload(
    django_assert_num_queries, django_capture_on_commit_callbacks
):
    # given a city whose name was broken, and a county's chain read once
    load_regions()
    Region.objects.filter(code="420100").update(name="改错的名字")
    county = Region.objects.get(code="420102")
    assert [r.name for r in ancestors(county)] == ["江岸区", "改错的名字", "湖北省"]

    # then the next read costs no query
    with django_assert_num_queries(0):
        assert [r.code for r in ancestors(county)] == ["420102", "420100", "420000"]

    # when the regions are loaded again (the name repaired), the chain read afterwards is new
    with django_capture_on_commit_callbacks(execute=True):
        load_regions()
    assert [r.name for r in ancestors(county)] == ["江岸区", "武汉市", "湖北省"]
