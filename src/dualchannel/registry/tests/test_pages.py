import pytest

from dualchannel.registry.models import DesignationStatus, Institution
from dualchannel.registry.tests.factories import (
    PhysicianFactory,
    designate,
    make_credit_code,
    make_drug,
    qualified_pharmacy,
    region,
)

S = DesignationStatus


@pytest.fixture
def officer_client(client, agency_user):
    region("420102")
    region("420106")
    client.force_login(agency_user)
    return client


def test_institutions_page_lists_and_filters(officer_client, hospital, pharmacy, other_pharmacy):
    designate(pharmacy)
    page = officer_client.get("/agency/institutions/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "武汉演示第一医院" in html and "江岸演示大药房" in html
    assert "瑶海演示药房" not in html  # outside the officer's region
    filtered = officer_client.get("/agency/institutions/", {"kind": "pharmacy", "status": "active"})
    assert "江岸演示大药房" in filtered.content.decode()
    assert "武汉演示第一医院" not in filtered.content.decode()


def test_institution_create_form_shows_field_error(officer_client):
    resp = officer_client.post(
        "/agency/institutions/",
        {
            "kind": "pharmacy",
            "name": "新药房",
            "credit_code": "12420102000000001X",
            "region": "420102",
        },
    )
    assert resp.status_code == 400
    assert "统一社会信用代码校验位不正确" in resp.content.decode()
    assert not Institution.objects.filter(name="新药房").exists()


def test_institution_create_form_success(officer_client):
    resp = officer_client.post(
        "/agency/institutions/",
        {
            "kind": "pharmacy",
            "name": "新药房",
            "credit_code": make_credit_code("420102", 770001),
            "region": "420102",
            "has_cold_chain": "on",
        },
    )
    inst = Institution.objects.get(name="新药房")
    assert resp.status_code == 302 and resp.url == f"/agency/institutions/{inst.pk}/"
    assert inst.has_cold_chain


def test_detail_page_shows_history_physicians_and_buttons(profiles, officer_client, hospital):
    designate(hospital, S.APPLIED)
    PhysicianFactory(hospital=hospital, name="孙医生")
    html = officer_client.get(f"/agency/institutions/{hospital.pk}/").content.decode()
    assert "双通道定点资格" in html and "孙医生" in html
    assert 'value="evaluated"' in html and 'value="rejected"' in html


def test_htmx_transition_updates_panel_and_errors_go_to_messages(
    profiles, officer_client, hospital
):
    Institution.objects.filter(pk=hospital.pk).update(has_pathology=True)
    d = designate(hospital, S.APPLIED)
    url = f"/agency/designations/{d.pk}/transitions/"
    ok = officer_client.post(url, {"to": "evaluated"}, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200 and "评估通过" in ok.content.decode()
    d.refresh_from_db()
    assert d.status == S.EVALUATED

    bad = officer_client.post(url, {"to": "active"}, HTTP_HX_REQUEST="true")
    assert bad.headers["HX-Retarget"] == "#messages"
    assert "registry.illegal_transition" in bad.content.decode()
    d.refresh_from_db()
    assert d.status == S.EVALUATED


def test_agency_pages_refuse_other_roles(client, pharmacist_user, hospital):
    client.force_login(pharmacist_user)
    resp = client.get("/agency/institutions/")
    assert resp.status_code == 403
    assert "无权执行此操作" in resp.content.decode()
    resp = client.get(f"/agency/institutions/{hospital.pk}/")
    assert resp.status_code == 403


def test_agency_pages_need_login(client):
    assert client.get("/agency/institutions/").status_code == 302


def test_public_query_page_renders_anonymously_and_finds_designated(client, db):
    drug = make_drug()
    pharmacy = qualified_pharmacy(region_code="420102", name="江岸双通道药房", phone="027-8888")
    designate(pharmacy)
    pharmacy.equipped_drugs.create(drug=drug)

    page = client.get("/query/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="viewport"' in html and "湖北省" in html

    found = client.get(
        "/query/", {"province": "420000", "city": "420100", "county": "420102", "drug": "axtn"}
    ).content.decode()
    assert "江岸双通道药房" in found and "027-8888" in found and "即时结算" in found

    fragment = client.get("/query/results/", {"province": "420000", "kind": "hospital"})
    assert "江岸双通道药房" not in fragment.content.decode()
    assert fragment.headers["HX-Push-Url"] == "/query/?province=420000&kind=hospital"


def test_public_region_cascade_fragment(client, db):
    region("420102")
    cities = client.get("/query/regions/city/", {"province": "420000"}).content.decode()
    assert 'value="420100"' in cities and 'hx-swap-oob="true"' in cities
    counties = client.get("/query/regions/county/", {"city": "420100"}).content.decode()
    assert 'value="420102"' in counties


def test_admin_lists_insured_persons_masked(client, admin_user, insured_person):
    client.force_login(admin_user)
    html = client.get("/admin/registry/insuredperson/").content.decode()
    assert insured_person.id_number not in html
    assert insured_person.id_number[:6] in html
