"""Base fixtures: one user per role, plus outsiders from another hospital, pharmacy and region.

Like healthchecks' alice/bob/charlie: ``outsider_*`` users hold the same roles at other
institutions and must never see or change the first set's data.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from dualchannel.core import after_rollback, jobs, refcache
from dualchannel.core.models import ApiToken
from dualchannel.core.roles import Role
from dualchannel.core.security import confirmed_device
from dualchannel.core.tests.factories import PASSWORD, UserFactory
from dualchannel.monitoring.engine import forget_followed
from dualchannel.registry import public_cache
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.regions import forget_parents
from dualchannel.registry.tests.factories import InstitutionFactory, InsuredPersonFactory


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def agency(db):
    return InstitutionFactory(
        kind=InstitutionKind.AGENCY, name="武汉市医疗保障事务中心", region_code="420100"
    )


@pytest.fixture
def hospital(db):
    return InstitutionFactory(
        kind=InstitutionKind.HOSPITAL, name="武汉演示第一医院", region_code="420102"
    )


@pytest.fixture
def pharmacy(db):
    return InstitutionFactory(
        kind=InstitutionKind.PHARMACY,
        name="江岸演示大药房",
        region_code="420102",
        hospital_level=None,
    )


@pytest.fixture
def other_hospital(db):
    return InstitutionFactory(
        kind=InstitutionKind.HOSPITAL, name="合肥演示人民医院", region_code="340102"
    )


@pytest.fixture
def other_pharmacy(db):
    return InstitutionFactory(
        kind=InstitutionKind.PHARMACY,
        name="瑶海演示药房",
        region_code="340102",
        hospital_level=None,
    )


@pytest.fixture
def other_agency(db):
    return InstitutionFactory(
        kind=InstitutionKind.AGENCY,
        name="合肥市医保中心",
        region_code="340100",
        hospital_level=None,
    )


@pytest.fixture
def physician_user(hospital):
    return UserFactory(username="physician", institution=hospital, roles=[Role.PHYSICIAN])


@pytest.fixture
def reviewer_user(hospital):
    return UserFactory(username="reviewer", institution=hospital, roles=[Role.REVIEWER])


@pytest.fixture
def pharmacist_user(pharmacy):
    return UserFactory(username="pharmacist", institution=pharmacy, roles=[Role.PHARMACIST])


@pytest.fixture
def agency_user(agency):
    return UserFactory(username="officer", institution=agency, roles=[Role.AGENCY_OFFICER])


@pytest.fixture
def insured_person(db):
    return InsuredPersonFactory(name="张三")


@pytest.fixture
def patient_user(insured_person):
    return UserFactory(username="patient", insured_person=insured_person, roles=[Role.PATIENT])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True, roles=[Role.ADMIN])


@pytest.fixture
def outsider_physician(other_hospital):
    return UserFactory(
        username="outsider_physician", institution=other_hospital, roles=[Role.PHYSICIAN]
    )


@pytest.fixture
def outsider_reviewer(other_hospital):
    return UserFactory(
        username="outsider_reviewer", institution=other_hospital, roles=[Role.REVIEWER]
    )


@pytest.fixture
def outsider_pharmacist(other_pharmacy):
    return UserFactory(
        username="outsider_pharmacist", institution=other_pharmacy, roles=[Role.PHARMACIST]
    )


@pytest.fixture
def outsider_agency(other_agency):
    return UserFactory(
        username="outsider_officer", institution=other_agency, roles=[Role.AGENCY_OFFICER]
    )


def officer_of(region_code: str, username: str):
    """An agency officer of ``region_code``'s own agency (scope tests by level)."""
    agency = InstitutionFactory(
        kind=InstitutionKind.AGENCY,
        name=f"{region_code} 医保经办机构",
        region_code=region_code,
        hospital_level=None,
    )
    return UserFactory(username=username, institution=agency, roles=[Role.AGENCY_OFFICER])


# Officers at three levels of Hubei (county 江岸区; the city 武汉市 is ``agency_user``; the
# province) and one of another city (宜昌市).
@pytest.fixture
def county_officer(db):
    return officer_of("420102", "county_officer")


@pytest.fixture
def province_officer(db):
    return officer_of("420000", "province_officer")


@pytest.fixture
def yichang_officer(db):
    return officer_of("420500", "yichang_officer")


@pytest.fixture(autouse=True)
def _no_write_kept_from_another_test():
    """Writes kept for after a rollback (``core.after_rollback``) run at the end of a request or
    a failed job; a test that raised one outside either must not hand it to the next test."""

    after_rollback.forget_pending()
    yield
    after_rollback.forget_pending()


@pytest.fixture(autouse=True)
def _region_chains_forgotten():
    """Regions are made per test (the factories) and rolled back with it: a chain of regions
    cached by one test (``registry.regions.ancestors``) must not outlive its rows."""

    forget_parents()
    yield
    forget_parents()


@pytest.fixture(autouse=True)
def _reference_cache_forgotten():
    """A rolled-back test moves the reference tables' versions back (``core.refcache``): what
    one test cached under a version must not be served to the next under the same number."""

    refcache.clear()
    forget_followed()  # the monitoring follow-ups queued: rolled back with the test's data
    yield
    refcache.clear()
    forget_followed()


@pytest.fixture(autouse=True)
def _public_answers_forgotten():
    """A rolled-back test leaves the audit heads where the next test starts again: the public
    query's per-process answers would outlive their data."""

    public_cache.clear()
    yield
    public_cache.clear()


@pytest.fixture(autouse=True)
def _force_login_is_a_full_sign_in(monkeypatch):
    """``client.force_login(user)`` stands for the whole sign-in: the password and, for a user
    with an authenticator (officers and administrators, see UserFactory), its code. Tests of the
    second factor itself sign in through the login page or ``client.login`` (password only)."""

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        device = confirmed_device(user)
        if device is not None:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def demo_his(request, settings):
    """The built-in demo HIS as the hospital system of the test's ``hospital`` only (each
    hospital reads its own system; any other hospital's physicians find nobody in it)."""
    settings.HIS_ADAPTER = "demo"
    settings.HIS_HOSPITALS = (
        [request.getfixturevalue("hospital").credit_code]
        if "hospital" in request.fixturenames
        else []
    )


@pytest.fixture
def api_client():
    """A Django test client that talks JSON to the API with a bearer token."""

    class ApiClient(Client):
        def as_user(self, user):
            _, raw = ApiToken.issue(user)
            self.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
            return self

        def post_json(self, path, data=None, **kw):
            return self.post(path, data or {}, content_type="application/json", **kw)

        def put_json(self, path, data=None, **kw):
            return self.put(path, data or {}, content_type="application/json", **kw)

        def patch_json(self, path, data=None, **kw):
            return self.patch(path, data or {}, content_type="application/json", **kw)

    return ApiClient()


def pytest_collection_modifyitems(config, items):
    """Concurrency tests need real concurrent transactions: they run on PostgreSQL only."""

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run ./scripts/with-postgres.sh make test")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_interval_tasks_due(request, monkeypatch):
    """The apps' every-few-minutes tasks (payments' expiry and query, the rollups' refresh) are
    due at a worker's first look; a test that runs the worker counts only its own jobs. Tests of
    those tasks call their handlers or enqueue them, or are marked ``interval_tasks``."""
    if request.node.get_closest_marker("interval_tasks"):
        return
    monkeypatch.setattr(
        jobs, "_periodic", {name: t for name, t in jobs._periodic.items() if t.every is None}
    )
