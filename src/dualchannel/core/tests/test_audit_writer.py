"""The audit ledger against someone who can write to the database (issue 9, point 4).

Each attack is done as such a writer would: straight SQL-level changes of events and heads,
hashes recomputed with the code's old plain SHA-256 or a key of their own. What they cannot
touch is the environment (the HMAC keys) and the checkpoint directory.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from dualchannel.core import audit, jobs, tasks
from dualchannel.core.audit_keys import parse_audit_keys, read_audit_keys
from dualchannel.core.canonical import canonical_json, digest
from dualchannel.core.models import AuditChainHead, AuditEvent, Job
from dualchannel.core.tests.audit_helpers import checkpoint_dir, tamper, write_event  # noqa: F401

pytestmark = pytest.mark.django_db

KEY_1 = "11" * 32
KEY_2 = "22" * 32


def _events(actor, subject, count):
    return [write_event(actor, subject, action=f"test.{i}") for i in range(count)]


def _rehash_from(stream, seq, hasher):
    """The forger's move: edit nothing or something, then recompute every later hash and link
    with ``hasher`` and move the head, so that the chain is consistent again."""
    events = list(AuditEvent.objects.filter(stream=stream).order_by("seq"))
    prev = audit.GENESIS_HASH
    with tamper():
        for event in events:
            if event.seq >= seq:
                event.prev_hash = prev
                event.hash = hasher(audit._event_content(event))
                event.save(update_fields=["prev_hash", "hash"])
            prev = event.hash
        AuditChainHead.objects.filter(stream=stream).update(
            last_seq=events[-1].seq, last_hash=events[-1].hash
        )


def _verify_command():
    """audit_verify's exit (None = OK) and its report."""

    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except CommandError as exc:
        return str(exc), err.getvalue()
    return None, err.getvalue()


# --- Attacks -----------------------------------------------------------------------------


def test_deleting_the_last_events_and_rewinding_the_head_is_caught_by_the_checkpoint(
    agency_user, hospital
):
    # given five events, checkpointed by the worker
    events = _events(agency_user, hospital, 5)
    audit.write_checkpoint()
    stream = events[0].stream

    # when a writer deletes the last two and rewinds the head to the third
    with tamper():
        AuditEvent.objects.filter(pk__in=[events[3].pk, events[4].pk]).delete()
    AuditChainHead.objects.filter(stream=stream).update(last_seq=3, last_hash=events[2].hash)

    # then the chain itself is consistent, but the checkpoint names the missing event
    assert audit.verify_chain() == []
    (found,) = audit.verify_checkpoints()
    assert (found.stream, found.seq) == (stream, 5)
    assert "missing" in found.reason
    failed, report = _verify_command()
    assert failed == "audit ledger broken: 1 break(s)"
    assert f"BROKEN stream {stream} seq 5" in report


@pytest.mark.parametrize(
    "hasher",
    [
        pytest.param(digest, id="plain-sha256"),
        pytest.param(
            lambda content: hmac.new(
                b"x" * 32, canonical_json(content).encode(), hashlib.sha256
            ).hexdigest(),
            id="wrong-key",
        ),
    ],
)
def test_recomputing_every_later_hash_without_the_key_breaks_every_recomputed_row(
    agency_user, hospital, hasher
):
    # given four events
    events = _events(agency_user, hospital, 4)
    stream = events[0].stream

    # when a writer edits event 2 and recomputes events 2-4 and the head without the key
    with tamper():
        AuditEvent.objects.filter(pk=events[1].pk).update(action="test.forged")
    _rehash_from(stream, 2, hasher)

    # then every recomputed row is reported, not only the first
    breaks = audit.verify_chain()
    assert [(b.seq, b.event_id) for b in breaks] == [(n, events[n - 1].pk) for n in (2, 3, 4)]
    assert all(b.reason == "content does not match its hash" for b in breaks)
    failed, report = _verify_command()
    assert failed == "audit ledger broken: 3 break(s)"
    assert report.count("BROKEN") == 3


def test_claiming_an_unconfigured_key_id_is_a_break(agency_user, hospital):
    (event,) = _events(agency_user, hospital, 1)

    with tamper():
        AuditEvent.objects.filter(pk=event.pk).update(key_id="")

    (found,) = audit.verify_chain()
    assert found.reason == "hash key id '' is not configured"


def test_deleting_a_whole_stream_is_caught_by_the_checkpoint(agency_user, physician_user, hospital):
    # given two institutions' streams, checkpointed
    kept = _events(physician_user, hospital, 2)
    gone = _events(agency_user, hospital, 3)
    audit.write_checkpoint()

    # when a writer deletes one stream's events and head
    with tamper():
        AuditEvent.objects.filter(stream=gone[0].stream).delete()
    AuditChainHead.objects.filter(stream=gone[0].stream).delete()

    # then the database alone looks fine, and the checkpoint names the removed stream
    assert audit.verify_chain() == []
    (found,) = audit.verify_checkpoints()
    assert found.stream == gone[0].stream
    assert found.reason.startswith("stream removed")
    assert kept[0].stream != found.stream
    failed, report = _verify_command()
    assert failed and f"stream {gone[0].stream}" in report


def test_wiping_the_whole_ledger_is_caught_by_the_checkpoints(
    agency_user, physician_user, hospital
):
    streams = {_events(actor, hospital, 2)[0].stream for actor in (agency_user, physician_user)}
    audit.write_checkpoint()

    with tamper():
        AuditEvent.objects.all().delete()
    AuditChainHead.objects.all().delete()

    assert audit.verify_chain() == []
    found = audit.verify_checkpoints()
    assert {b.stream for b in found} == streams
    assert all(b.reason.startswith("stream removed") for b in found)
    failed, report = _verify_command()
    assert failed == "audit ledger broken: 2 break(s)"
    assert report.count("stream removed") == 2


def test_every_break_of_every_stream_is_reported(agency_user, physician_user, hospital):
    # given two streams; a writer edits events 2 and 5 of one and deletes event 3 of the other
    first = _events(agency_user, hospital, 6)
    second = _events(physician_user, hospital, 4)
    with tamper():
        AuditEvent.objects.filter(pk__in=[first[1].pk, first[4].pk]).update(action="test.x")
        AuditEvent.objects.filter(pk=second[2].pk).delete()

    breaks = audit.verify_chain()

    assert sorted((b.stream, b.seq, b.event_id) for b in breaks) == sorted(
        [
            (first[0].stream, 2, first[1].pk),
            (first[0].stream, 5, first[4].pk),
            (second[0].stream, 3, second[3].pk),
        ]
    )


def test_a_head_that_disappeared_while_its_events_remain_is_a_break(agency_user, hospital):
    (event,) = _events(agency_user, hospital, 1)

    AuditChainHead.objects.filter(stream=event.stream).delete()

    (found,) = audit.verify_chain()
    assert found.reason == "stream has events but no head"


# --- Keys and rotation -----------------------------------------------------------------------


def test_events_under_an_old_key_still_verify_after_rotation(settings, agency_user, hospital):
    # given events hashed under k1
    settings.AUDIT_HMAC_KEYS = {"k1": bytes.fromhex(KEY_1)}
    settings.AUDIT_HMAC_KEY_ID = "k1"
    old = _events(agency_user, hospital, 2)
    audit.write_checkpoint()

    # when k2 becomes current (k1 stays listed) and more events follow
    settings.AUDIT_HMAC_KEYS = {"k1": bytes.fromhex(KEY_1), "k2": bytes.fromhex(KEY_2)}
    settings.AUDIT_HMAC_KEY_ID = "k2"
    new = _events(agency_user, hospital, 2)
    run = audit.write_checkpoint()

    # then both generations verify, each under its own key, and so do the checkpoints
    assert [e.key_id for e in old + new] == ["k1", "k1", "k2", "k2"]
    assert audit.verify_chain() == []
    assert audit.verify_checkpoints() == []
    assert run.written[0]["kid"] == "k2"

    # and dropping the old key makes its events unverifiable rather than silently accepted
    settings.AUDIT_HMAC_KEYS = {"k2": bytes.fromhex(KEY_2)}
    assert [b.seq for b in audit.verify_chain()] == [1, 2]


def test_keys_are_read_as_kid_hex_pairs_with_a_current_id():
    keys, current = parse_audit_keys(f"k1:{KEY_1}, k2:{KEY_2}", "k2")

    assert keys == {"k1": bytes.fromhex(KEY_1), "k2": bytes.fromhex(KEY_2)}
    assert current == "k2"
    assert parse_audit_keys(f"only:{KEY_1}", "") == ({"only": bytes.fromhex(KEY_1)}, "only")


@pytest.mark.parametrize(
    ("raw", "current", "message"),
    [
        (f"k1:{KEY_1},k2:{KEY_2}", "", "must name the current key"),
        (f"k1:{KEY_1}", "k9", "not in AUDIT_HMAC_KEYS"),
        ("k1:abcd", "", "at least 32 bytes"),
        ("k1:not-hex", "", "not hex"),
        (KEY_1, "", "kid:hexkey"),
        (f"k1:{KEY_1},k1:{KEY_2}", "k1", "twice"),
        (" , ", "", "lists no key"),
    ],
)
def test_bad_keys_stop_start_up(raw, current, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_audit_keys(raw, current)


def test_production_without_keys_stops_start_up_and_development_derives_one():
    with pytest.raises(ImproperlyConfigured, match="AUDIT_HMAC_KEYS must be set"):
        read_audit_keys("", "", secret_key="s" * 50, insecure_default_ok=False)

    keys, current = read_audit_keys("", "", secret_key="s" * 50, insecure_default_ok=True)
    assert current == "dev" and len(keys["dev"]) == 32


# --- Checkpoints -------------------------------------------------------------------------------


def test_a_checkpoint_line_per_moved_stream_signed_and_chained(settings, agency_user, hospital):
    (event,) = _events(agency_user, hospital, 1)

    first = audit.write_checkpoint()
    unchanged = audit.write_checkpoint()
    _events(agency_user, hospital, 1)
    moved = audit.write_checkpoint()

    assert [(line["stream"], line["seq"]) for line in first.written] == [(event.stream, 1)]
    assert unchanged.written == []
    lines = audit.checkpoint_path().read_text().splitlines()
    assert len(lines) == 2
    second = json.loads(lines[1])
    assert second == moved.written[0]
    assert (second["n"], second["seq"], second["kid"]) == (2, 2, settings.AUDIT_HMAC_KEY_ID)
    assert second["prev"] == hashlib.sha256(lines[0].encode()).hexdigest()
    assert audit.verify_checkpoints() == []


def _checkpoint_lines(agency_user, physician_user, hospital):
    for actor in (agency_user, physician_user, agency_user):
        _events(actor, hospital, 1)
        audit.write_checkpoint()
    path = audit.checkpoint_path()
    return path, path.read_text().splitlines()


def test_an_edited_checkpoint_line_is_detected(agency_user, physician_user, hospital):
    path, lines = _checkpoint_lines(agency_user, physician_user, hospital)
    edited = json.loads(lines[0])
    edited["seq"] = 0
    lines[0] = canonical_json(edited)
    path.write_text("\n".join(lines) + "\n")

    found = audit.verify_checkpoints()

    assert [str(b) for b in found[:2]] == [
        "checkpoint file line 1: signature does not match: the line was edited",
        "checkpoint file line 2: does not follow the previous line: a line was removed or edited",
    ]
    failed, report = _verify_command()
    assert failed and "BROKEN checkpoint file line 1" in report


def test_a_checkpoint_line_deleted_from_the_middle_is_detected(
    agency_user, physician_user, hospital
):
    path, lines = _checkpoint_lines(agency_user, physician_user, hospital)
    del lines[1]
    path.write_text("\n".join(lines) + "\n")

    (found,) = audit.verify_checkpoints()

    assert found.line == 2
    assert "numbered 3" in found.reason and "does not follow" in found.reason


def test_the_writer_refuses_to_checkpoint_over_a_rewound_head(agency_user, hospital, capsys):
    events = _events(agency_user, hospital, 3)
    audit.write_checkpoint()
    with tamper():
        AuditEvent.objects.filter(pk=events[2].pk).delete()
    AuditChainHead.objects.filter(stream=events[0].stream).update(
        last_seq=2, last_hash=events[1].hash
    )
    write_event(agency_user, hospital)  # the ledger moves on from the rewound head

    with pytest.raises(CommandError, match="disagree with their last checkpoint"):
        call_command("audit_checkpoint")

    assert "REFUSED stream" in capsys.readouterr().err
    assert len(audit.checkpoint_path().read_text().splitlines()) == 1  # evidence kept
    assert audit.verify_checkpoints()[0].seq == 3


def test_the_worker_checkpoints_on_schedule(monkeypatch, agency_user, hospital):

    monkeypatch.setattr(jobs, "_periodic", {})
    monkeypatch.setattr(jobs, "_handlers", dict(jobs._handlers))
    (event,) = _events(agency_user, hospital, 1)

    tasks.register_checkpoint_task(10)
    jobs.run_once("w1")

    assert jobs.periodic_tasks()[tasks.CHECKPOINT_TASK].every == timedelta(minutes=10)
    assert Job.objects.get(kind=tasks.CHECKPOINT_TASK).status == "done"
    (line,) = audit.checkpoint_path().read_text().splitlines()
    assert json.loads(line)["stream"] == event.stream


# --- Events from before the keys (migration 0006) ------------------------------------------


def _legacy(event):
    """Turn a stored event back into what the pre-0006 ledger wrote (plain SHA-256)."""
    content = audit._event_content(event)
    del content["key_id"]
    return digest(content)


def test_the_migration_rehashes_old_events_and_keeps_old_breaks(
    agency_user, physician_user, hospital
):
    migration = importlib.import_module("dualchannel.core.migrations.0006_audit_hmac_key_id")
    # given two streams as the old code stored them; in the second, event 2 was edited
    intact = _events(agency_user, hospital, 3)
    broken = _events(physician_user, hospital, 3)
    with tamper():
        for stream in (intact[0].stream, broken[0].stream):
            prev = audit.GENESIS_HASH
            for event in AuditEvent.objects.filter(stream=stream).order_by("seq"):
                event.prev_hash, event.key_id = prev, ""
                event.hash = prev = _legacy(event)
                event.save()
            AuditChainHead.objects.filter(stream=stream).update(last_hash=prev)
        AuditEvent.objects.filter(pk=broken[1].pk).update(action="test.forged")

    # when the migration re-hashes them under the current key (0006 runs before 0007's trigger)
    with tamper():
        migration.rehash_under_current_key(django_apps, None)

    # then the intact stream verifies under HMAC and the edited event is still the break
    (found,) = audit.verify_chain()
    assert (found.stream, found.event_id) == (broken[0].stream, broken[1].pk)
    assert found.reason == "content does not match its hash"
    assert set(AuditEvent.objects.values_list("key_id", flat=True)) == {"dev"}


# --- PostgreSQL: the table refuses changes -------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE core_auditevent SET action = 'test.forged'",
        "DELETE FROM core_auditevent",
        "TRUNCATE core_auditevent CASCADE",
    ],
)
def test_postgresql_refuses_to_change_or_remove_events(agency_user, hospital, statement):
    _events(agency_user, hospital, 2)

    with connection.cursor() as cursor:
        # the test runner's flush may TRUNCATE; nobody else's session has this on
        cursor.execute("SET LOCAL dualchannel.allow_audit_truncate = 'off'")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # else TRUNCATE waits on deferred checks
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute(statement)

    assert AuditEvent.objects.filter(action__startswith="test.").count() == 2
    assert audit.verify_chain() == []


@pytest.mark.postgres
def test_postgresql_lockdown_leaves_the_application_role_read_and_append(agency_user, hospital):
    (event,) = _events(agency_user, hospital, 1)
    role = f"dc_audit_app_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")  # rolled back with the test
        cursor.execute(f"GRANT ALL ON core_auditevent TO {role}")
        for statement in audit.lockdown_sql(role):
            cursor.execute(statement)
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute(
            "INSERT INTO core_auditevent (stream, seq, occurred_at, actor_role, action,"
            " subject_type, subject_id, before_digest, after_digest, summary, prev_hash, hash,"
            " key_id) VALUES ('test', 1, now(), '', 'test.insert', 't', '1', '', '', '{}',"
            " %s, %s, 'dev')",
            [audit.GENESIS_HASH, "0" * 64],
        )
        cursor.execute("SELECT count(*) FROM core_auditevent")
        assert cursor.fetchone()[0] == 2
        for statement in (
            "UPDATE core_auditevent SET action = 'x'",
            "DELETE FROM core_auditevent",
            "TRUNCATE core_auditevent",
        ):
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                cursor.execute(statement)
        cursor.execute("RESET ROLE")
    assert AuditEvent.objects.get(pk=event.pk).action == "test.0"
