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
