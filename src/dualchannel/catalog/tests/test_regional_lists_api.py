"""The regional lists through the API and the console page [CX art. 4, 6, 7]: the catalogue
admin checks a file (dry run), imports it, reads it; bad input is refused with a code and a
Chinese message and nothing is written."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dualchannel.catalog.models import RegionalList, RegionalListEntry
from dualchannel.catalog.tests.factories import DrugFactory
from dualchannel.registry.tests.factories import region

pytestmark = pytest.mark.django_db
URL = "/api/v1/catalog/regional-lists"


def _body(drug, **overrides):
    return {
        "region": "420100",
        "kind": "dual_channel",
        "title": "武汉市2027年双通道管理药品目录",
        "valid_from": "2027-01-01",
        "valid_to": "2027-12-31",
        "content": f"通用名,备注\n{drug.generic_name},首批\n",
        "dry_run": True,
    } | overrides


def test_the_api_checks_then_imports_then_reads_a_list(api_client, agency_user):
    """CX art. 4, 7: a dry run reports without writing; the import writes; the list is read back
    with its entries."""
    region("420100")
    drug = DrugFactory()
    api_client.as_user(agency_user)

    checked = api_client.post_json(URL, _body(drug))
    assert checked.status_code == 200, checked.content
    assert checked.json()["dry_run"] is True
    assert checked.json()["entries"][0]["generic_name"] == drug.generic_name
    assert RegionalList.objects.count() == 0

    imported = api_client.post_json(URL, _body(drug, dry_run=False)).json()
    listing_id = imported["regional_list_id"]
    detail = api_client.get(f"{URL}/{listing_id}").json()
    listed = api_client.get(URL).json()

    assert detail["items"][0]["note"] == "首批"
    assert [row["id"] for row in listed] == [listing_id]
    assert listed[0]["entries"] == 1


def test_the_api_refuses_an_unknown_drug_with_every_rows_problem(api_client, agency_user):
    """Bad input: an unknown drug and a bad date are refused, per row, nothing written."""
    region("420100")
    api_client.as_user(agency_user)
    body = _body(DrugFactory(), content="通用名,生效日期\n不存在的药,2027-01-01\n", dry_run=False)
    body["content"] += f"{DrugFactory().generic_name},2027-02-30\n"

    response = api_client.post_json(URL, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "catalog.regional_list_invalid"
    assert "目录中没有通用名" in error["fields"]["rows[2].generic_name"][0]
    assert "格式有误" in error["fields"]["rows[3].valid_from"][0]
    assert (RegionalList.objects.count(), RegionalListEntry.objects.count()) == (0, 0)


def test_the_api_takes_json_rows_checked_as_a_file_cx_art_4(api_client, agency_user):
    """CX art. 4, 7: the rows may come as a list of objects (keys as the file's columns, English
    or Chinese): the dry run reports without writing, the import writes them numbered from 1."""
    region("420100")
    first = DrugFactory(national_code="XL01XE00000000000000001")
    second = DrugFactory()
    rows = [
        {"drug_code": first.national_code, "note": "首批"},
        {"通用名": second.generic_name, "生效日期": "2027-03-01"},
    ]
    api_client.as_user(agency_user)

    checked = api_client.post_json(URL, _body(first, content=None, rows=rows))
    assert checked.status_code == 200, checked.content
    assert [e["generic_name"] for e in checked.json()["entries"]] == [
        first.generic_name,
        second.generic_name,
    ]
    assert RegionalList.objects.count() == 0

    imported = api_client.post_json(URL, _body(first, content=None, rows=rows, dry_run=False))
    assert imported.status_code == 200, imported.content
    listing = RegionalList.objects.get(pk=imported.json()["regional_list_id"])
    entries = list(listing.entries.order_by("row").values_list("row", "note", "valid_from"))
    assert [(row, note) for row, note, _ in entries] == [(1, "首批"), (2, "")]
    assert str(entries[1][2]) == "2027-03-01" and listing.source_name == "rows.json"


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ([{"通用名": "不存在的药"}, {"note": "没有药"}], "rows[1].generic_name"),
        ([{"generic_name": ["数组"]}, "不是对象"], "rows[1].generic_name"),
        ([], "rows"),
    ],
)
def test_bad_json_rows_are_refused_as_a_whole_and_nothing_written(
    api_client, agency_user, rows, field
):
    """CX art. 4: JSON rows are all or nothing like a file: every row's problem, no list."""
    region("420100")
    drug = DrugFactory()
    api_client.as_user(agency_user)
    body = _body(drug, content=None, rows=[{"generic_name": drug.generic_name}, *rows])
    if not rows:
        body["rows"] = []

    response = api_client.post_json(URL, body | {"dry_run": False})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "catalog.regional_list_invalid"
    shifted = field.replace("rows[1]", "rows[2]")  # the good first row is row 1
    assert (shifted if rows else field) in error["fields"]
    assert (RegionalList.objects.count(), RegionalListEntry.objects.count()) == (0, 0)


def test_the_api_wants_csv_text_or_json_rows_not_both(api_client, agency_user):
    """CX art. 4: one source per import; neither or both is refused, nothing written."""
    region("420100")
    drug = DrugFactory()
    api_client.as_user(agency_user)

    both = api_client.post_json(URL, _body(drug, rows=[{"通用名": drug.generic_name}]))
    neither = api_client.post_json(URL, _body(drug, content=None))

    for response in (both, neither):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "catalog.regional_list_invalid"
    assert RegionalList.objects.count() == 0


def test_the_page_runs_a_dry_run_and_lists_every_problem(client, agency_user):
    """CX art. 4: the console's 校验 shows the rows that would be imported, or each problem."""
    region("420100")
    drug = DrugFactory()
    client.force_login(agency_user)
    form = {
        "region": "420100",
        "kind": "chronic_disease",
        "title": "武汉市门诊慢特病双通道用药",
        "valid_from": "2027-01-01",
        "action": "dry_run",
    }
    url = reverse("agency-regional-list-import")

    good = client.post(
        url,
        form | {"file": SimpleUploadedFile("list.csv", f"通用名\n{drug.generic_name}\n".encode())},
        HTTP_HX_REQUEST="true",
    )
    bad = client.post(url, form | {"content": "通用名\n不存在的药\n"}, HTTP_HX_REQUEST="true")
    page = client.get(reverse("agency-regional-lists"))

    assert "校验通过（未导入）" in good.content.decode()
    assert drug.generic_name in good.content.decode()
    assert 'role="alert"' in bad.content.decode() and "不存在的药" in bad.content.decode()
    assert RegionalList.objects.count() == 0
    assert "导入地方目录" in page.content.decode()
