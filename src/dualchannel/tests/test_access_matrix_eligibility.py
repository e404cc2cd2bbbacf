"""Roles × the eligibility API: the same rules as ``test_access_matrix``, on a world of
applications in each state (draft, materials requested, under review) at a Wuhan hospital.

The world is built once per module and each test rolls back to it (see ``matrix_world``)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings

from dualchannel.core.canonical import digest, snapshot
from dualchannel.core.locks import mark_several_transactions
from dualchannel.core.models import AuditEvent, User
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.core.tests.files import PDF
from dualchannel.eligibility import services
from dualchannel.eligibility.models import (
    Application,
    ApplicationStatus,
    Material,
)
from dualchannel.eligibility.services import materials
from dualchannel.eligibility.services.reevaluation import reevaluation_start
from dualchannel.eligibility.tests.factories import (
    PLAN,
    designated_physician,
    drug_with_criteria,
    liu_fang,
    zhang_wei,
)
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.tests.factories import (
    InstitutionFactory,
    InsuredPersonFactory,
    designate,
    load_seed_profiles,
)
from dualchannel.tests.access_matrix import (
    DEFAULT_PARAMS,
    ELIGIBILITY_MATRIX,
    INSIDERS,
    OUTSIDERS,
    REFUSED,
    Op,
    call,
    fingerprint,
    op,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/eligibility"
PHYSICIAN, REVIEWER, OFFICER, PATIENT = (
    "physician_user",
    "reviewer_user",
    "agency_user",
    "patient_user",
)

ELIGIBILITY_OPS = [
    op("GET", f"{BASE}/applications", allowed=INSIDERS, list_read=True),
    op(
        "POST",
        f"{BASE}/applications",
        {
            "patient_id_number": "{new_patient_id_number}",
            "drug_id": "{drug_id}",
            "diagnosis_code": "C34.100x004",
            "diagnosis_name": "右肺上叶恶性肿瘤",
            "pharmacy_id": "{pharmacy_id}",
        },
        allowed=(PHYSICIAN,),
    ),
    op("GET", f"{BASE}/applications/review-queue", allowed=(REVIEWER,), list_read=True),
    op(
        "GET",
        f"{BASE}/applications/{{application_id}}",
        allowed=(PHYSICIAN, REVIEWER, OFFICER),
        application_id="review_id",
    ),
    # The full ID number on request, audited: the case's hospital roles, not the agency.
    op(
        "POST",
        f"{BASE}/applications/{{application_id}}/id-number",
        allowed=(PHYSICIAN, REVIEWER),
        application_id="review_id",
    ),
    op(
        "POST",
        f"{BASE}/applications/{{application_id}}/answers",
        {"answers": {"advanced": False}},
        allowed=(PHYSICIAN,),
        application_id="draft_id",
    ),
    op(
        "GET",
        f"{BASE}/applications/{{application_id}}/check",
        allowed=(PHYSICIAN, REVIEWER),
        application_id="draft_id",
    ),
    op(
        "PUT",
        f"{BASE}/applications/{{application_id}}/plan",
        {**{k: str(v) for k, v in PLAN.items()}, "dose": "200mg"},
        allowed=(PHYSICIAN,),
        application_id="draft_id",
    ),
    op(
        "POST",
        f"{BASE}/applications/{{application_id}}/submit",
        allowed=(PHYSICIAN,),
        application_id="draft_id",
    ),
    op(
        "POST",
        f"{BASE}/applications/{{application_id}}/materials",
        {"kind": "gene_test", "file": "<pdf>"},
        allowed=(PATIENT,),
        application_id="materials_id",
    ),
    op(
        "POST",
        f"{BASE}/applications/{{application_id}}/materials/scan",
        {
            "kind": "gene_test",
            "title": "外院基因检测报告",
            "issuer": "武汉协和医院",
            "file": "<pdf>",
        },
        allowed=(REVIEWER,),
        application_id="materials_id",
    ),
    op(
        "POST",
        f"{BASE}/materials/{{material_id}}/verify",
        {"verified": True, "note": "与原件一致"},
        allowed=(REVIEWER,),
        material_id="material_id",
    ),
    op(
        "POST",
        f"{BASE}/applications/{{application_id}}/request-materials",
        {"kinds": ["imaging"], "note": "请补充影像报告"},
        allowed=(REVIEWER,),
        application_id="review_id",
    ),
    op(
        "POST",
        f"{BASE}/applications/{{application_id}}/approve",
        allowed=(REVIEWER,),
        application_id="review_id",
    ),
    op(
        "POST",
        f"{BASE}/applications/{{application_id}}/reject",
        {"reason": "不符合限定支付范围"},
        allowed=(REVIEWER,),
        application_id="review_id",
    ),
    op(
        "POST",
        f"{BASE}/applications/{{application_id}}/withdraw",
        {"reason": "患者放弃"},
        allowed=(PHYSICIAN,),
        application_id="draft_id",
    ),
    # Granted eligibilities and their re-evaluations [HB art. 9].
    op("GET", f"{BASE}/eligibilities", allowed=INSIDERS, list_read=True),
    op(
        "GET",
        f"{BASE}/eligibilities/{{eligibility_id}}",
        allowed=(PHYSICIAN, REVIEWER, OFFICER),
        eligibility_id="eligibility_id",
    ),
    op(
        "POST",
        f"{BASE}/eligibilities/{{eligibility_id}}/reevaluations",
        allowed=(PHYSICIAN,),
        eligibility_id="eligibility_id",
    ),
    op(
        "POST",
        f"{BASE}/reevaluations/{{reevaluation_id}}/complete",
        {"result": "continue", "assessment": "病情稳定，继续用药"},
        allowed=(PHYSICIAN,),
        reevaluation_id="reevaluation_id",
    ),
]


# The matrix runs on a fixed day inside the re-evaluation window of eligibilities approved on
# APPROVED_ON (due 90 days later, 2026-05-31), so it never depends on the real date.
APPROVED_ON = date(2026, 3, 2)
MATRIX_DAY = date(2026, 5, 25)


@pytest.fixture(scope="module")
def matrix_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world, built once per module (and xdist worker) inside an outer transaction.

    Each test runs in a savepoint of it (pytest-django's per-test transaction) and is rolled
    back, so every role × operation starts from the same world — like Django's
    ``setUpTestData`` — without signing its eleven PDFs again for each of the ~190 tests.
    The outer transaction is rolled back when the module is done: nothing leaks to others.
    """
    media = tmp_path_factory.mktemp("matrix") / "private"
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(MEDIA_ROOT=media, HIS_ADAPTER="demo"),
    ):
        with django_db_blocker.unblock():
            outer = transaction.atomic()
            outer.__enter__()
            mark_several_transactions()  # core.locks checks each action of the world by itself
            try:
                built = _build_world(patch)
            except BaseException:
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)
                raise
        try:
            yield built
        finally:
            with django_db_blocker.unblock():
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)


@pytest.fixture
def world(matrix_world, db):
    """The module's world, as this test's transaction sees it (rolled back after the test)."""
    return matrix_world


def _user_fixture(name: str):
    @pytest.fixture(name=name)
    def user(world):
        return User.objects.get(pk=world["users"][name])

    return user


# The root conftest's users (one per role, plus the outsiders) are built with the world here,
# and each test gets a fresh instance of its row.
for _name in (*INSIDERS, *OUTSIDERS):
    globals()[f"_{_name}_fixture"] = _user_fixture(_name)


def _build_world(patch: pytest.MonkeyPatch) -> dict:
    """Three applications of a Wuhan hospital: under review (all evidence in the HIS),
    awaiting materials (the patient's own, one upload made) and a draft ready to submit;
    two granted eligibilities, one of them in re-evaluation. The users and institutions are
    those of the root conftest (same names, roles and regions)."""
    agency = InstitutionFactory(
        kind=InstitutionKind.AGENCY, name="武汉市医疗保障事务中心", region_code="420100"
    )
    hospital = InstitutionFactory(
        kind=InstitutionKind.HOSPITAL, name="武汉演示第一医院", region_code="420102"
    )
    settings.HIS_HOSPITALS = [hospital.credit_code]  # the demo HIS is this hospital's system
    pharmacy = InstitutionFactory(
        kind=InstitutionKind.PHARMACY,
        name="江岸演示大药房",
        region_code="420102",
        hospital_level=None,
    )
    other_hospital = InstitutionFactory(
        kind=InstitutionKind.HOSPITAL, name="合肥演示人民医院", region_code="340102"
    )
    other_pharmacy = InstitutionFactory(
        kind=InstitutionKind.PHARMACY,
        name="瑶海演示药房",
        region_code="340102",
        hospital_level=None,
    )
    other_agency = InstitutionFactory(
        kind=InstitutionKind.AGENCY,
        name="合肥市医保中心",
        region_code="340100",
        hospital_level=None,
    )
    insured_person = InsuredPersonFactory(name="张三")
    outsider_person = InsuredPersonFactory(name="外人丙", region_code="340102")
    users = {
        "physician_user": UserFactory(
            username="physician", institution=hospital, roles=[Role.PHYSICIAN]
        ),
        "reviewer_user": UserFactory(
            username="reviewer", institution=hospital, roles=[Role.REVIEWER]
        ),
        "pharmacist_user": UserFactory(
            username="pharmacist", institution=pharmacy, roles=[Role.PHARMACIST]
        ),
        "agency_user": UserFactory(
            username="officer", institution=agency, roles=[Role.AGENCY_OFFICER]
        ),
        "patient_user": UserFactory(
            username="patient", insured_person=insured_person, roles=[Role.PATIENT]
        ),
        "outsider_physician": UserFactory(
            username="outsider_physician", institution=other_hospital, roles=[Role.PHYSICIAN]
        ),
        "outsider_reviewer": UserFactory(
            username="outsider_reviewer", institution=other_hospital, roles=[Role.REVIEWER]
        ),
        "outsider_pharmacist": UserFactory(
            username="outsider_pharmacist", institution=other_pharmacy, roles=[Role.PHARMACIST]
        ),
        "outsider_agency": UserFactory(
            username="outsider_officer", institution=other_agency, roles=[Role.AGENCY_OFFICER]
        ),
        "outsider_patient": UserFactory(
            username="outsider_patient", insured_person=outsider_person, roles=[Role.PATIENT]
        ),
    }
    physician_user, reviewer_user = users["physician_user"], users["reviewer_user"]

    load_seed_profiles()
    designated_physician(physician_user)
    designate(pharmacy)
    drug, _ = drug_with_criteria(generic_name="塞瑞替尼胶囊")
    today = date(2026, 3, 2)

    def draft(person, drug=drug):
        application = services.application_create(
            actor=physician_user,
            patient_id_number=person.id_number,
            drug_id=drug.pk,
            diagnosis_code="C34.100x004",
            diagnosis_name="右肺上叶恶性肿瘤",
            pharmacy_id=pharmacy.pk,
        )
        services.application_answer(
            actor=physician_user, application_id=application.pk, answers={"advanced": True}
        )
        services.application_set_plan(actor=physician_user, application_id=application.pk, **PLAN)
        return application

    under_review = draft(zhang_wei())
    services.application_submit(actor=physician_user, application_id=under_review.pk, today=today)
    awaiting = draft(insured_person)
    services.application_submit(actor=physician_user, application_id=awaiting.pk, today=today)
    upload = materials.material_upload(
        actor=users["patient_user"],
        application_id=awaiting.pk,
        kind="pathology",
        filename="外院病理报告.pdf",
        content=PDF,
        today=today,
    )
    # the reviewer has opened it: 核验通过 needs the file read first (issue 12)
    materials.material_open(actor=users["reviewer_user"], material_id=upload.pk)
    ready = draft(liu_fang())

    def granted(drug_name):
        other_drug, _ = drug_with_criteria(generic_name=drug_name)
        application = draft(zhang_wei_again, drug=other_drug)
        services.application_submit(
            actor=physician_user, application_id=application.pk, today=APPROVED_ON
        )
        return services.application_approve(
            actor=reviewer_user, application_id=application.pk, today=APPROVED_ON
        )

    zhang_wei_again = Application.objects.get(pk=under_review.pk).patient
    eligibility = granted("阿来替尼胶囊")
    in_reevaluation = granted("洛拉替尼片")
    # From here on (the module's tests included) it is MATRIX_DAY.
    patch.setattr("django.utils.timezone.localdate", lambda *a, **k: MATRIX_DAY)
    reevaluation = reevaluation_start(
        actor=physician_user, eligibility_id=in_reevaluation.pk, today=MATRIX_DAY
    )
    statuses = dict(
        Application.objects.filter(pk__in=[under_review.pk, awaiting.pk, ready.pk]).values_list(
            "pk", "status"
        )
    )
    assert statuses == {
        under_review.pk: ApplicationStatus.UNDER_REVIEW,
        awaiting.pk: ApplicationStatus.MATERIALS_REQUESTED,
        ready.pk: ApplicationStatus.DRAFT,
    }
    return {
        "users": {name: user.pk for name, user in users.items()},
        "review_id": under_review.pk,
        "materials_id": awaiting.pk,
        "draft_id": ready.pk,
        "material_id": upload.pk,
        "drug_id": drug.pk,
        "eligibility_id": eligibility.pk,
        "reevaluation_id": reevaluation.pk,
        "pharmacy_id": pharmacy.pk,
        "new_patient_id_number": InsuredPersonFactory(name="新患者").id_number,
        "secrets": [
            under_review.application_no,
            awaiting.application_no,
            ready.application_no,
            insured_person.id_number,
            "张伟",
            "刘芳",
        ],
    }


def call_op(client, case: Op, world: dict, user=None):
    """Like ``call``, but sends material uploads and scans as multipart with a real PDF."""
    if case.body is None or "file" not in case.body:
        return call(client, case, world, user)
    if user is not None:
        client.as_user(user)
    names = {**DEFAULT_PARAMS, **dict(case.params)}
    path = re.sub(r"\{(\w+)\}", lambda m: str(world[names[m.group(1)]]), case.path)
    data = {
        **{k: v for k, v in case.body.items() if k != "file"},
        "file": SimpleUploadedFile("报告.pdf", PDF, "application/pdf"),
    }
    return client.post(path, data)


@pytest.mark.parametrize("actor", OUTSIDERS)
@pytest.mark.parametrize("case", ELIGIBILITY_OPS, ids=lambda c: c.id)
def test_outsider_sees_and_changes_nothing(request, api_client, world, case, actor):
    user = request.getfixturevalue(actor)
    before = fingerprint_with_applications()

    response = call_op(api_client, case, world, user)

    if case.list_read and response.status_code == 200:
        text = response.content.decode()
        assert not [s for s in world["secrets"] if s in text]
        assert fingerprint_with_applications() == before
    else:
        assert_refused(response)
        assert fingerprint_with_applications() == before


@pytest.mark.parametrize("actor", INSIDERS)
@pytest.mark.parametrize("case", ELIGIBILITY_OPS, ids=lambda c: c.id)
def test_insider_roles(request, api_client, world, case, actor):
    user = request.getfixturevalue(actor)
    before = fingerprint_with_applications()
    events = AuditEvent.objects.count()

    response = call_op(api_client, case, world, user)

    if actor in case.allowed:
        assert 200 <= response.status_code < 300, response.content[:500]
        if case.method != "GET":
            assert AuditEvent.objects.count() > events
    elif case.list_read and response.status_code == 200:
        assert fingerprint_with_applications() == before
    else:
        assert_refused(response)
        assert fingerprint_with_applications() == before


def assert_refused(response) -> None:
    assert response.status_code in REFUSED, response.content[:300]
    assert set(response.json()) == {"error"}


def fingerprint_with_applications() -> tuple:

    rows = [
        snapshot(obj) for model in (Application, Material) for obj in model.objects.order_by("pk")
    ]
    return fingerprint(), digest(rows)


def test_the_rows_here_are_the_ones_the_main_matrix_delegates():
    assert {case.id for case in ELIGIBILITY_OPS} == ELIGIBILITY_MATRIX
