"""The per-worker cache of reference data (``core.refcache``) [issue 15 point 2]: served while
the tables it came from are unchanged, read again after any write to them — a model's save, a
queryset's update, a bulk insert, a delete — because a trigger moves the table's version in the
writer's transaction."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from dualchannel.core import refcache
from dualchannel.core.auth import BearerToken, reference_versions
from dualchannel.core.models import ApiToken, ReferenceVersion
from dualchannel.registry.designations import institution_designated
from dualchannel.registry.models import Designation, DesignationStatus, PolicyProfile, Region
from dualchannel.registry.profiles import profile_for

from .factories import designate, load_seed_profiles, qualified_pharmacy

pytestmark = pytest.mark.django_db

TABLE = PolicyProfile._meta.db_table


def _version(table: str = TABLE) -> int:
    found = ReferenceVersion.objects.filter(name=table).first()
    return found.version if found else 0


def test_every_kind_of_write_moves_the_tables_version():
    load_seed_profiles()
    profile = PolicyProfile.objects.get(region_id="420000")
    start = _version()

    profile.agreement_grace_days = 9
    profile.save(update_fields=["agreement_grace_days"])
    after_save = _version()
    PolicyProfile.objects.filter(pk=profile.pk).update(agreement_grace_days=10)
    after_update = _version()
    PolicyProfile.objects.filter(region_id="532300").delete()
    after_delete = _version()

    assert start < after_save < after_update < after_delete


def test_a_cached_profile_is_read_again_after_its_row_changes():
    load_seed_profiles()
    wuhan = Region.objects.get(code="420102")
    assert profile_for(wuhan).agreement_grace_days != 21

    with CaptureQueriesContext(connection) as again:
        profile_for(wuhan)
    # outside a reading() block: the versions only (one statement), not the profiles
    assert [q["sql"] for q in again.captured_queries] == [
        f"SELECT name, version FROM {refcache.VERSION_TABLE}"
    ]

    PolicyProfile.objects.filter(region_id="420000").update(agreement_grace_days=21)  # Hubei's

    assert profile_for(wuhan).agreement_grace_days == 21


def test_each_caller_gets_its_own_copy_of_the_profile():
    load_seed_profiles()
    wuhan = Region.objects.get(code="420102")
    mine = profile_for(wuhan)
    mine.agreement_grace_days = 99  # changed in memory only

    assert profile_for(wuhan).agreement_grace_days != 99


def test_a_reading_block_reads_the_versions_once():
    load_seed_profiles()
    wuhan, hefei = Region.objects.get(code="420102"), Region.objects.get(code="340102")
    profile_for(wuhan), profile_for(hefei)

    with refcache.reading(), CaptureQueriesContext(connection) as read:
        for _ in range(3):
            profile_for(wuhan), profile_for(hefei)

    assert len(read.captured_queries) == 1


def test_the_versions_read_with_a_bearer_token_serve_the_request(agency_user):
    # given the versions as a request's bearer token read them (core.auth, one statement)
    load_seed_profiles()
    wuhan = Region.objects.get(code="420102")
    _, raw = ApiToken.issue(agency_user)
    request = RequestFactory().get("/api/v1/me")
    assert BearerToken().authenticate(request, raw) == agency_user
    known = reference_versions(request)
    assert known == dict(ReferenceVersion.objects.values_list("name", "version")) != {}
    profile_for(wuhan)

    # when a reading() block is given them, nothing reads the versions again
    with refcache.reading(known), CaptureQueriesContext(connection) as read:
        profile_for(wuhan)
    assert read.captured_queries == []

    # and a change of a reference table is in the next request's token read
    PolicyProfile.objects.filter(region_id="420000").update(agreement_grace_days=21)
    assert BearerToken().authenticate(request, raw) == agency_user
    assert reference_versions(request)[TABLE] == known[TABLE] + 1
    with refcache.reading(reference_versions(request)):
        assert profile_for(wuhan).agreement_grace_days == 21


def test_a_suspended_designation_is_seen_at_once():
    pharmacy = qualified_pharmacy()
    designation = designate(pharmacy)
    assert institution_designated(pharmacy.pk)

    Designation.objects.filter(pk=designation.pk).update(status=DesignationStatus.SUSPENDED)

    assert not institution_designated(pharmacy.pk)


def test_an_unwatched_table_is_refused():
    with pytest.raises(RuntimeError, match="not watched"):
        refcache.cached("x", ("registry_insuredperson",), lambda: 1)


def _triggers(table: str) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [table],
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
            )
        return {row[0] for row in cursor.fetchall()}


def test_every_watched_table_has_its_triggers_after_migrate():
    """A migration that rebuilds a table (SQLite) drops its triggers: ``post_migrate`` puts them
    back, on every table an app watches."""
    assert {"registry_policyprofile", "registry_designation", "settlement_benefitrule"} <= (
        refcache.watched()
    )
    for table in sorted(refcache.watched()):
        found = _triggers(table)
        if connection.vendor == "postgresql":
            assert "refcache_version" in found, table
        else:
            assert {f"refcache_{table}_{e}" for e in ("insert", "update", "delete")} <= found
    assert refcache.install_triggers() == len(refcache.watched())  # idempotent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_by_another_worker_is_seen_by_the_next_read():
    """Another connection (another worker's) commits a change: this one's next read sees it,
    and a change still uncommitted there is not seen here."""
    load_seed_profiles()
    wuhan = Region.objects.get(code="420102")
    assert profile_for(wuhan).agreement_grace_days != 33
    seen_while_open: list[int | None] = []
    opened, checked = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                PolicyProfile.objects.filter(region_id="420000").update(agreement_grace_days=33)
                opened.set()
                checked.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    opened.wait(10)
    seen_while_open.append(profile_for(wuhan).agreement_grace_days)
    checked.set()
    thread.join()

    assert seen_while_open != [33]  # not committed yet: the cached profile stands
    assert profile_for(wuhan).agreement_grace_days == 33
