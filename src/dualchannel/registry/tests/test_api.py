from datetime import date, timedelta

import pytest

from dualchannel.core.models import AuditEvent
from dualchannel.core.reveal import ID_NUMBER_VIEWED
from dualchannel.inventory.models import StockItem
from dualchannel.registry.models import (
    Designation,
    DesignationStatus,
    DesignationTransition,
    Institution,
    InsuredPerson,
)
from dualchannel.registry.tests.factories import (
    PhysicianFactory,
    designate,
    make_credit_code,
    make_drug,
    qualified_pharmacy,
    region,
)

S = DesignationStatus


def test_officer_creates_institution_via_api(api_client, agency_user):
    region("420102")
    resp = api_client.as_user(agency_user).post_json(
        "/api/v1/registry/institutions",
        {
            "kind": "pharmacy",
            "name": "江岸新药房",
            "credit_code": make_credit_code("420102", 880001),
            "region": "420102",
            "has_cold_chain": True,
        },
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["has_cold_chain"] is True


def test_invalid_credit_code_via_api_is_a_field_error(api_client, agency_user):
    region("420102")
    resp = api_client.as_user(agency_user).post_json(
        "/api/v1/registry/institutions",
        {"kind": "pharmacy", "name": "x", "credit_code": "91110000600037341X", "region": "420102"},
    )
    assert resp.status_code == 400
    body = resp.json()["error"]
    assert body["code"] == "registry.invalid_credit_code"
    assert list(body["fields"]) == ["credit_code"]
    assert not Institution.objects.filter(name="x").exists()


def test_invalid_id_number_via_api_is_a_field_error(api_client, agency_user):
    region("420102")
    resp = api_client.as_user(agency_user).post_json(
        "/api/v1/registry/insured-persons",
        {
            "id_number": "420102199003071230",
            "name": "王五",
            "insurance_type": "310",
            "enrolment_region": "420102",
        },
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "registry.invalid_id_number"
    assert "id_number" in resp.json()["error"]["fields"]
    assert not InsuredPerson.objects.exists()


def test_transition_via_api_and_illegal_one_refused(profiles, api_client, agency_user):
    pharmacy = qualified_pharmacy(region_code="420102")
    d = designate(pharmacy, S.APPLIED)
    client = api_client.as_user(agency_user)

    ok = client.post_json(
        f"/api/v1/registry/designations/{d.pk}/transitions", {"to": "evaluated", "reason": ""}
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["status"] == "evaluated"
    assert ok.json()["allowed_transitions"] == ["publicised", "rejected"]

    bad = client.post_json(
        f"/api/v1/registry/designations/{d.pk}/transitions", {"to": "active", "reason": ""}
    )
    assert bad.status_code == 409
    assert bad.json()["error"]["code"] == "registry.illegal_transition"
    d.refresh_from_db()
    assert d.status == S.EVALUATED
    assert DesignationTransition.objects.filter(designation=d).count() == 1


def test_api_needs_authentication(client):
    resp = client.get("/api/v1/registry/institutions")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("outsider", ["outsider_agency", "outsider_reviewer"])
def test_outsiders_see_nothing_of_the_first_set(
    request, profiles, api_client, outsider, hospital, pharmacy, insured_person
):
    # given: the first set's objects
    physician = PhysicianFactory(hospital=hospital)
    d = designate(pharmacy, S.APPLIED)
    client = api_client.as_user(request.getfixturevalue(outsider))

    # then: every detail is 404, every list is without them
    for path in [
        f"/api/v1/registry/institutions/{hospital.pk}",
        f"/api/v1/registry/institutions/{pharmacy.pk}",
        f"/api/v1/registry/designations/{d.pk}",
        f"/api/v1/registry/physicians/{physician.pk}",
        f"/api/v1/registry/insured-persons/{insured_person.pk}",
        f"/api/v1/registry/institutions/{pharmacy.pk}/drugs",
    ]:
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["error"]["code"] == "not_found"
    ids = {i["id"] for i in client.get("/api/v1/registry/institutions").json()["items"]}
    assert not ids & {hospital.pk, pharmacy.pk}
    assert d.pk not in {
        x["id"] for x in client.get("/api/v1/registry/designations").json()["items"]
    }
    assert physician.pk not in {
        x["id"] for x in client.get("/api/v1/registry/physicians").json()["items"]
    }
    assert client.get("/api/v1/registry/insured-persons").json()["count"] == 0

    # and cannot act on them
    resp = client.post_json(
        f"/api/v1/registry/designations/{d.pk}/transitions", {"to": "rejected", "reason": "x"}
    )
    assert resp.status_code == 404
    d.refresh_from_db()
    assert d.status == S.APPLIED


def test_reviewer_sees_own_hospital_and_its_physicians_only(
    api_client, reviewer_user, hospital, other_hospital, pharmacy
):
    PhysicianFactory(hospital=hospital)
    PhysicianFactory(hospital=other_hospital)
    client = api_client.as_user(reviewer_user)
    items = client.get("/api/v1/registry/institutions").json()["items"]
    assert [i["id"] for i in items] == [hospital.pk]
    physicians = client.get("/api/v1/registry/physicians").json()["items"]
    assert {p["hospital_id"] for p in physicians} == {hospital.pk}


def test_patient_sees_only_self_masked(api_client, patient_user, insured_person):
    other = InsuredPerson.objects.exclude(pk=insured_person.pk)
    assert not other.exists()
    client = api_client.as_user(patient_user)
    resp = client.get(f"/api/v1/registry/insured-persons/{insured_person.pk}")
    assert resp.status_code == 200
    assert resp.json()["masked"] is True and "*" in resp.json()["id_number"]
    assert client.get("/api/v1/registry/institutions").json()["count"] == 0


def test_officer_detail_unmasked_and_audited_list_masked(api_client, agency_user, insured_person):

    views = AuditEvent.objects.filter(action=ID_NUMBER_VIEWED, patient=insured_person)
    client = api_client.as_user(agency_user)
    row = client.get("/api/v1/registry/insured-persons").json()["items"][0]
    assert row["id_number"] != insured_person.id_number and "*" in row["phone"]
    assert not views.exists()  # a list is masked, nothing to record

    detail = client.get(f"/api/v1/registry/insured-persons/{insured_person.pk}").json()

    assert detail["id_number"] == insured_person.id_number
    assert detail["phone"] == insured_person.phone
    (event,) = views  # each unmasked answer is one audited view
    assert event.actor_id == agency_user.pk
    assert event.summary == {"fields": ["id_number", "phone", "address"], "via": "api"}


def test_physician_file_via_api_title_below_minimum(profiles, api_client, reviewer_user, hospital):
    resp = api_client.as_user(reviewer_user).post_json(
        "/api/v1/registry/physicians",
        {
            "hospital_id": hospital.pk,
            "name": "钱医生",
            "staff_code": "D9",
            "department": "血液科",
            "title": "ATTENDING",
            "practising_certificate_no": "1104",
        },
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "registry.title_below_minimum"
    assert list(resp.json()["error"]["fields"]) == ["title"]


def test_profile_get_and_update_via_api(profiles, api_client, agency_user):
    client = api_client.as_user(agency_user)
    got = client.get("/api/v1/registry/profiles/420102").json()
    assert got["region"] == "420000" and got["exit_ban_months"] == 24
    assert got["citations"]["exit_ban_months"].startswith("HB art. 21")
    upd = client.patch_json(
        "/api/v1/registry/profiles/420100", {"physician_relaxation_allowed": True}
    )
    assert upd.status_code == 200, upd.content
    assert upd.json()["region"] == "420100"
    assert upd.json()["physician_relaxation_allowed"] is True


def test_equipped_drugs_via_api(api_client, pharmacist_user, pharmacy):
    drug = make_drug()
    client = api_client.as_user(pharmacist_user)
    resp = client.post_json(
        f"/api/v1/registry/institutions/{pharmacy.pk}/drugs", {"drug_id": drug.pk}
    )
    assert resp.status_code == 201
    assert (
        client.get(f"/api/v1/registry/institutions/{pharmacy.pk}/drugs").json()[0]["generic_name"]
        == "奥希替尼"
    )
    assert (
        client.delete(f"/api/v1/registry/institutions/{pharmacy.pk}/drugs/{drug.pk}").status_code
        == 204
    )


def test_equipping_a_drug_not_in_the_catalogue_is_a_field_error(
    api_client, pharmacist_user, pharmacy
):
    client = api_client.as_user(pharmacist_user)

    resp = client.post_json(
        f"/api/v1/registry/institutions/{pharmacy.pk}/drugs", {"drug_id": 999999}
    )

    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "registry.invalid_field" and error["fields"] == {
        "drug_id": ["药品不存在"]
    }
    assert not pharmacy.equipped_drugs.exists()


# Public query --------------------------------------------------------------------------------


def _public_setup():
    drug = make_drug("奥希替尼", "axtn")
    other_drug = make_drug("阿来替尼", "altn")
    active = qualified_pharmacy(region_code="420102", name="江岸双通道药房", phone="027-1")
    designate(active)
    active.equipped_drugs.create(drug=drug)
    applied = qualified_pharmacy(region_code="420102", name="只是申请中的药房")
    designate(applied, S.APPLIED)
    applied.equipped_drugs.create(drug=drug)
    exited = qualified_pharmacy(region_code="420102", name="已退出药房")
    designate(exited, S.EXITED)
    hospital = qualified_pharmacy(region_code="420106")
    hospital.kind = "hospital"
    hospital.hospital_level = 3
    hospital.name = "武昌双通道医院"
    hospital.save()
    designate(hospital)
    hospital.equipped_drugs.create(drug=other_drug)
    anhui = qualified_pharmacy(region_code="340102", name="瑶海双通道药房")
    designate(anhui)
    return drug, active, hospital, anhui


def test_public_query_by_region_kind_and_drug(client, db):
    drug, *_ = _public_setup()

    def names(**params):
        resp = client.get("/api/v1/public/institutions", params)
        assert resp.status_code == 200
        return [i["name"] for i in resp.json()["items"]]

    # only active designations, in the region subtree
    assert names(region="420100") == ["江岸双通道药房", "武昌双通道医院"]
    assert names(region="420000", kind="pharmacy") == ["江岸双通道药房"]
    assert names(region="340000") == ["瑶海双通道药房"]
    # by drug id, name fragment and pinyin initials
    assert names(drug=str(drug.pk)) == ["江岸双通道药房"]
    assert names(drug="替尼") == ["江岸双通道药房", "武昌双通道医院"]
    assert names(drug="altn") == ["武昌双通道医院"]

    item = client.get("/api/v1/public/institutions", {"region": "420102"}).json()["items"][0]
    assert item["region_path"] == "湖北省武汉市江岸区"
    assert item["realtime_settlement"] and item["has_cold_chain"]
    assert "credit_code" not in item


def test_public_institution_detail_lists_drugs_and_hides_non_designated(client, db):
    drug, active, *_ = _public_setup()
    resp = client.get(f"/api/v1/public/institutions/{active.pk}")
    assert resp.status_code == 200
    assert resp.json()["drugs"] == [{"drug_id": drug.pk, "generic_name": "奥希替尼"}]
    not_active = Designation.objects.exclude(status=S.ACTIVE).first().institution
    assert client.get(f"/api/v1/public/institutions/{not_active.pk}").status_code == 404


def test_public_regions_cascade(client, db):
    region("420102")
    region("420106")
    provinces = client.get("/api/v1/public/regions").json()
    assert {"code": "420000", "name": "湖北省", "level": "province", "parent": None} in provinces
    cities = client.get("/api/v1/public/regions", {"parent": "420000"}).json()
    assert [c["code"] for c in cities] == ["420100"]
    counties = client.get("/api/v1/public/regions", {"parent": "420100"}).json()
    assert [c["code"] for c in counties] == ["420102", "420106"]


def test_public_query_by_drug_says_which_pharmacies_have_it_in_stock(client, db):

    drug, *_ = _public_setup()
    stocked = qualified_pharmacy(region_code="420102", name="有货双通道药房")
    designate(stocked)  # not on the equipped list, but the drug is on its shelf
    StockItem.objects.create(
        pharmacy=stocked,
        drug=drug,
        batch_no="B1",
        expiry_date=date.today() + timedelta(days=200),
        retail_price="100.00",
        quantity=2,
    )

    items = client.get("/api/v1/public/institutions", {"drug": str(drug.pk)}).json()["items"]

    assert {i["name"]: i["in_stock"] for i in items} == {
        "江岸双通道药房": False,  # equipped, nothing on the shelf now
        "有货双通道药房": True,
    }
    assert "quantity" not in items[0]
    # without a drug, no stock is claimed
    plain = client.get("/api/v1/public/institutions", {"region": "420102"}).json()["items"]
    assert {i["in_stock"] for i in plain} == {None}
