"""HIS adapters: the Synthea FHIR bundles and the demo HIS of Chinese patients."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date

import httpx
import pytest
from django.test import override_settings

from dualchannel.catalog.criteria import CONTEXT_VARIABLES, MET, evaluate_condition, to_activation
from dualchannel.catalog.icd10 import diagnosis_name
from dualchannel.catalog.models import MaterialKind
from dualchannel.core.canonical import canonical_json
from dualchannel.core.errors import DomainError
from dualchannel.integration.his import DemoHis, FhirAdapter, NoHis, get_his_adapter
from dualchannel.integration.his.base import ICD10_YB2, SNOMED
from dualchannel.integration.his.fhir import FIXTURE_DIR
from dualchannel.registry.identifiers import synthetic_id_number

BUNDLES = {
    "999-48-8934": ("Clemente Kreiger", 4, 1),  # SSN → name, DiagnosticReports, Conditions
    "999-59-2277": ("Buster Hoeger", 2, 3),
    "999-32-7438": ("Ned Hintz", 1, 3),
}


@pytest.fixture(scope="module")
def fhir():
    return FhirAdapter(bundle_dir=FIXTURE_DIR)


@pytest.mark.parametrize("ssn", sorted(BUNDLES))
def test_each_synthea_bundle_parses(fhir, ssn):
    name, report_count, condition_count = BUNDLES[ssn]

    patient = fhir.find_patient(ssn)

    assert patient is not None and patient.name == name and patient.sex == "1"
    assert patient.id_number == ssn
    reports = fhir.reports(patient)
    assert len(reports) == report_count
    for report in reports:
        assert report.mime_type == "application/fhir+json"
        assert report.checksum == hashlib.sha256(report.content).hexdigest()
        resource = json.loads(report.content)
        assert resource["resourceType"] == "DiagnosticReport"
        assert report.content == canonical_json(resource).encode()
        assert report.source_id == f"DiagnosticReport/{resource['id']}"
        assert report.kind in MaterialKind.values
        assert len(report.observations) == len(resource["result"])
    assert len(fhir.diagnoses(patient)) == condition_count


def test_synthea_patient_is_found_by_synthea_id_too(fhir):
    patient = fhir.find_patient("1484a42d-0eaf-4654-9cbf-6b050a5cd73b")

    assert patient is not None and patient.name == "Clemente Kreiger"
    assert patient.birth_date == date(1984, 7, 2)


def test_unknown_identifier_finds_nobody(fhir):
    assert fhir.find_patient("420102196203140011") is None
    assert fhir.find_patient("") is None


def test_conditions_keep_their_snomed_code_system(fhir):
    patient = fhir.find_patient("999-48-8934")

    (diagnosis,) = fhir.diagnoses(patient)

    assert diagnosis.code == "162864005" and diagnosis.system == SNOMED
    assert diagnosis.name.startswith("Body mass index 30+")
    assert diagnosis.recorded_at.year == 2018 and diagnosis.recorded_at.tzinfo is not None
    assert diagnosis.source.startswith("fhir:Condition/")


def test_cbc_report_observations_have_values_and_units(fhir):
    patient = fhir.find_patient("999-48-8934")

    cbc = [r for r in fhir.reports(patient) if r.title.startswith("Complete blood count")]

    assert cbc and all(r.kind == "special_lab" for r in cbc)
    hemoglobin = next(o for o in cbc[0].observations if o.code == "718-7")
    assert hemoglobin.unit == "g/dL" and isinstance(hemoglobin.value, float)
    assert hemoglobin.value == pytest.approx(13.2617, abs=1e-3)


def test_labs_take_the_latest_loinc_value_and_convert_ldl(fhir):
    patient = fhir.find_patient("999-48-8934")

    labs = fhir.labs(patient)

    assert labs["718-7"] == pytest.approx(15.4655, abs=1e-3)  # 2018 value, not 2012
    assert labs["18262-6"] == pytest.approx(86.8127, abs=1e-3)
    assert labs["LDL_C"] == pytest.approx(round(86.81267727351057 / 38.67, 2))
    assert "8480-6" in labs  # systolic blood pressure, from a component
    assert fhir.genes(patient) == {}


def test_fhir_context_has_the_criteria_shape_without_snomed_codes(fhir):
    patient = fhir.find_patient("999-48-8934")

    context = fhir.patient_context(
        patient, insurance_type="310", setting="outpatient", today=date(2026, 7, 1)
    )

    assert set(context) == set(CONTEXT_VARIABLES)
    assert context["patient"] == {"age": 41, "sex": "1"}
    assert context["diagnoses"] == []  # SNOMED findings are not ICD-10 医保版 codes


def test_fhir_server_search_is_used_when_a_base_url_is_given():
    bundle = json.loads(
        (FIXTURE_DIR / "Ned_Hintz_e4b9259d-0f54-48d1-a35d-b526729a4dfe.json").read_text()
    )
    by_type: dict[str, list] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    seen = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, dict(request.url.params)))
        kind = request.url.path.rsplit("/", 1)[-1]
        rows = by_type.get(kind, [])
        if kind == "Patient":
            value = request.url.params["identifier"]
            rows = [p for p in rows if any(i["value"] == value for i in p["identifier"])]
        return httpx.Response(
            200, json={"resourceType": "Bundle", "entry": [{"resource": r} for r in rows]}
        )

    adapter = FhirAdapter(
        base_url="https://fhir.example.test/r4",
        client=httpx.Client(transport=httpx.MockTransport(server)),
    )

    patient = adapter.find_patient("999-32-7438")
    reports = adapter.reports(patient)

    assert patient.name == "Ned Hintz"
    assert len(reports) == 1 and reports[0].observations
    assert ("/r4/Patient", {"identifier": "999-32-7438", "_count": "200"}) in seen
    assert ("/r4/DiagnosticReport", {"patient": patient.his_id, "_count": "200"}) in seen


def test_fhir_server_failure_is_a_clear_error():
    adapter = FhirAdapter(
        base_url="https://fhir.example.test/r4",
        client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503))),
    )

    with pytest.raises(DomainError) as exc:
        adapter.find_patient("999-32-7438")

    assert exc.value.code == "integration.his_unavailable"


def test_document_reference_attachment_becomes_a_report(tmp_path):

    text = "出院小结：右肺腺癌术后".encode()
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "p1",
                    "identifier": [{"system": "urn:cn:id", "value": "420102196203140011"}],
                    "gender": "male",
                    "birthDate": "1962-03-14",
                    "name": [{"text": "张伟"}],
                }
            },
            {
                "resource": {
                    "resourceType": "DocumentReference",
                    "id": "d1",
                    "subject": {"reference": "Patient/p1"},
                    "type": {"coding": [{"system": "http://loinc.org", "code": "18842-5"}]},
                    "date": "2026-01-05T10:00:00+08:00",
                    "content": [
                        {
                            "attachment": {
                                "contentType": "text/plain",
                                "data": base64.b64encode(text).decode(),
                            }
                        }
                    ],
                }
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "c1",
                    "subject": {"reference": "Patient/p1"},
                    "code": {"coding": [{"system": ICD10_YB2, "code": "C34.100x004"}]},
                }
            },
        ],
    }
    (tmp_path / "b.json").write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    adapter = FhirAdapter(bundle_dir=tmp_path)

    patient = adapter.find_patient("420102196203140011")
    (report,) = adapter.reports(patient, kinds=["discharge_summary"])

    assert report.content == text and report.mime_type == "text/plain"
    assert report.checksum == hashlib.sha256(text).hexdigest()
    assert adapter.patient_context(
        patient, insurance_type="310", setting="outpatient", today=date(2026, 3, 1)
    )["diagnoses"] == ["C34.100x004"]


# --- demo HIS ----------------------------------------------------------------------------------

DEMO_PEOPLE = [
    ("张伟", date(1962, 3, 14), True, 1),
    ("刘芳", date(1975, 8, 2), False, 2),
    ("王小宝", date(2021, 6, 30), True, 3),
    ("李秀英", date(1948, 11, 9), False, 4),
    ("杨军", date(1983, 1, 21), True, 5),
]


def _demo_patient(name):
    his = DemoHis()
    _, birth, male, serial = next(p for p in DEMO_PEOPLE if p[0] == name)
    return his, his.find_patient(synthetic_id_number("420102", birth, serial, male))


@pytest.mark.parametrize(("name", "birth", "male", "serial"), DEMO_PEOPLE)
def test_demo_his_knows_every_demo_insured_person(name, birth, male, serial):
    his = DemoHis()

    patient = his.find_patient(synthetic_id_number("420102", birth, serial, male))

    assert patient.name == name and patient.birth_date == birth
    assert patient.sex == ("1" if male else "2")
    for report in his.reports(patient):
        assert report.checksum == hashlib.sha256(report.content).hexdigest()
        assert report.kind in MaterialKind.values
        assert name in report.content.decode("utf-8")


def test_demo_diagnosis_codes_exist_in_icd10_yb2():

    his = DemoHis()
    for name, *_ in DEMO_PEOPLE:
        _, patient = _demo_patient(name)
        for diagnosis in his.diagnoses(patient):
            assert diagnosis_name(diagnosis.code) == diagnosis.name


def test_zhang_wei_has_alk_positive_nsclc_with_full_evidence():
    his, patient = _demo_patient("张伟")

    context = his.patient_context(
        patient, insurance_type="310", setting="outpatient", today=date(2026, 3, 14)
    )
    kinds = {r.kind for r in his.reports(patient)}
    gene_report = his.reports(patient, kinds=["gene_test"])[0]

    assert context == {
        "patient": {"age": 64, "sex": "1"},
        "diagnoses": ["C34.100x004"],
        "labs": {"CEA": 12.6},
        "genes": {"ALK": "positive", "EGFR": "wildtype", "ROS1": "negative"},
        "prior_therapies": [],
        "insurance_type": "310",
        "setting": "outpatient",
    }
    assert {"diagnosis_certificate", "pathology", "gene_test", "imaging"} <= kinds
    assert "EML4-ALK" in gene_report.content.decode()
    assert "临床基因扩增检验实验室" in gene_report.issuer
    assert gene_report.mime_type.startswith("text/plain")


def test_demo_cases_meet_their_drugs_criteria_and_li_xiuying_lacks_evidence():

    def evaluate_expression(expression, context):
        return evaluate_condition(expression, to_activation(context))[0] == MET

    today = date(2026, 3, 1)

    def ctx(name):
        his, patient = _demo_patient(name)
        context = his.patient_context(
            patient, insurance_type="310", setting="outpatient", today=today
        )
        return his, patient, context

    _, _, wang = ctx("王小宝")
    _, _, liu = ctx("刘芳")
    _, _, yang = ctx("杨军")
    his, li_patient, li = ctx("李秀英")

    assert evaluate_expression('genes["SMN1"] in ["homozygous_deletion"]', wang) is True
    assert evaluate_expression('diagnoses.exists(d, d.startsWith("G12.1"))', wang) is True
    assert evaluate_expression('genes["HER2"] == "positive"', liu) is True
    assert evaluate_expression('labs["ACHR_AB"] >= 0.5 && patient.age >= 18', yang) is True
    assert li["labs"] == {} and li["prior_therapies"] == ["proteasome-inhibitor"]
    assert {r.kind for r in his.reports(li_patient)} == {"outpatient_record"}


def test_demo_his_does_not_know_strangers():
    assert DemoHis().find_patient("11010519491231002X") is None


def test_get_his_adapter_follows_the_setting(hospital):
    with override_settings(HIS_ADAPTER="demo", HIS_HOSPITALS=[hospital.credit_code]):
        assert isinstance(get_his_adapter(hospital), DemoHis)
    with override_settings(
        HIS_ADAPTER="fhir", FHIR_BASE_URL="", HIS_HOSPITALS=[hospital.credit_code]
    ):
        adapter = get_his_adapter(hospital)
        assert isinstance(adapter, FhirAdapter)
        assert adapter.find_patient("999-59-2277").name == "Buster Hoeger"
    with override_settings(HIS_ADAPTER="pacs"), pytest.raises(DomainError):
        get_his_adapter(hospital)


def test_a_hospital_reads_only_its_own_system(hospital, other_hospital):
    # given the demo HIS connected as the system of one hospital (by its 定点机构编码)
    hospital.platform_code = "H42010200001"
    zhang = synthetic_id_number("420102", date(1962, 3, 14), 1, True)
    with override_settings(HIS_ADAPTER="demo", HIS_HOSPITALS=["H42010200001"]):
        # then that hospital finds 张伟, and another hospital (or none) finds nobody
        assert get_his_adapter(hospital).find_patient(zhang).name == "张伟"
        assert isinstance(get_his_adapter(other_hospital), NoHis)
        assert get_his_adapter(other_hospital).find_patient(zhang) is None
        assert get_his_adapter(None).find_patient(zhang) is None


def test_each_hospital_may_have_its_own_fhir_server(hospital, other_hospital):
    urls = {hospital.credit_code: "https://his-a.example/fhir"}
    with override_settings(
        HIS_ADAPTER="fhir",
        FHIR_BASE_URL="https://shared.example/fhir",
        FHIR_BASE_URLS=urls,
        HIS_HOSPITALS=[hospital.credit_code, other_hospital.credit_code],
    ):
        assert get_his_adapter(hospital).source_system == "FHIR https://his-a.example/fhir"
        assert get_his_adapter(other_hospital).source_system == "FHIR https://shared.example/fhir"
