"""The audit ledger: chained, append-only, verifiable, searchable by patient."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from dualchannel.core import audit
from dualchannel.core.canonical import canonical_json
from dualchannel.core.models import AuditChainHead, AuditEvent

from .audit_helpers import checkpoint_dir, tamper, write_event  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db


def test_events_chain_by_stream_in_order(agency_user, hospital):
    first = write_event(agency_user, hospital)
    second = write_event(agency_user, hospital)

    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == audit.GENESIS_HASH
    assert second.prev_hash == first.hash
    assert first.stream == f"inst:{agency_user.institution_id}"
    head = AuditChainHead.objects.get(stream=first.stream)
    assert (head.last_seq, head.last_hash) == (2, second.hash)
    assert audit.verify_chain() == []


def test_the_hash_is_an_hmac_under_the_current_key_named_by_the_event(
    settings, agency_user, hospital
):
    event = write_event(agency_user, hospital)

    assert event.key_id == settings.AUDIT_HMAC_KEY_ID
    content = canonical_json(audit._event_content(event)).encode()
    key = settings.AUDIT_HMAC_KEYS[event.key_id]
    assert event.hash == hmac.new(key, content, hashlib.sha256).hexdigest()
    assert event.hash != hashlib.sha256(content).hexdigest()


def test_record_adds_no_query(agency_user, hospital, django_assert_num_queries):
    write_event(agency_user, hospital)  # the thread knows the stream's head from here on

    # move the head by compare-and-set, insert the event: nothing more on the counter's hot path
    with transaction.atomic(), django_assert_num_queries(2):
        audit.record(actor=agency_user, action="test.write", subject=hospital)


def test_a_head_moved_elsewhere_is_read_and_locked_again(agency_user, hospital):
    first = write_event(agency_user, hospital)
    # another process appended meanwhile: the head this thread remembers is no longer the head
    with tamper():
        AuditChainHead.objects.filter(stream=first.stream).update(last_seq=7, last_hash="a" * 64)

    event = write_event(agency_user, hospital)

    assert (event.seq, event.prev_hash) == (8, "a" * 64)
    head = AuditChainHead.objects.get(stream=first.stream)
    assert (head.last_seq, head.last_hash) == (8, event.hash)


def test_an_event_rolled_back_with_its_savepoint_leaves_the_chain_whole(agency_user, hospital):
    first = write_event(agency_user, hospital)
    with transaction.atomic():
        try:
            with transaction.atomic():
                write_event(agency_user, hospital, action="test.undone")
                raise RuntimeError
        except RuntimeError:
            pass
        kept = audit.record(actor=agency_user, action="test.kept", subject=hospital)

    assert (kept.seq, kept.prev_hash) == (2, first.hash)
    assert audit.verify_chain() == []


@pytest.mark.django_db(transaction=True)
def test_record_requires_the_business_transaction(agency_user, hospital):
    with pytest.raises(RuntimeError):
        audit.record(actor=agency_user, action="x", subject=hospital)
    assert AuditEvent.objects.count() == 0


def test_editing_a_stored_row_breaks_the_chain_at_that_row(agency_user, hospital, capsys):
    events = [write_event(agency_user, hospital, action=f"test.{i}") for i in range(4)]
    # Behind the ledger's back: change what event 3 says happened.
    with tamper():
        AuditEvent.objects.filter(pk=events[2].pk).update(action="test.forged")

    breaks = audit.verify_chain()

    assert len(breaks) == 1
    assert breaks[0].event_id == events[2].pk
    assert breaks[0].seq == 3
    with pytest.raises(CommandError):
        call_command("audit_verify")
    assert f"event id {events[2].pk}" in capsys.readouterr().err


def test_deleting_a_row_breaks_the_chain(agency_user, hospital):
    events = [write_event(agency_user, hospital) for _ in range(3)]
    with tamper():
        AuditEvent.objects.filter(pk=events[1].pk).delete()

    (found,) = audit.verify_chain()

    assert found.seq == 2
    assert found.event_id == events[2].pk


def test_deleting_the_last_rows_is_detected_by_the_head(agency_user, hospital):
    events = [write_event(agency_user, hospital) for _ in range(3)]
    with tamper():
        AuditEvent.objects.filter(pk=events[2].pk).delete()

    (found,) = audit.verify_chain()

    assert found.event_id is None
    assert "removed" in found.reason


def test_relinking_a_forged_row_still_fails_on_the_next_row(agency_user, hospital):
    events = [write_event(agency_user, hospital) for _ in range(3)]
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.action = "test.forged"
    forged.hash = audit.compute_hash(forged)  # even someone holding the key, re-hashing a row...
    with tamper():
        forged.save()

    (found,) = audit.verify_chain()

    assert found.event_id == events[2].pk  # ...but the next row still points at the old one


def test_clean_ledger_verifies(agency_user, hospital, capsys):
    write_event(agency_user, hospital)
    call_command("audit_checkpoint")
    capsys.readouterr()

    call_command("audit_verify")

    out = capsys.readouterr()
    assert "OK: 1 events verified" in out.out
    assert out.err == ""


def test_verify_without_checkpoints_warns_that_tails_cannot_be_checked(
    agency_user, hospital, capsys
):
    write_event(agency_user, hospital)

    call_command("audit_verify")

    out = capsys.readouterr()
    assert "OK: 1 events verified" in out.out
    assert "WARNING no checkpoint file" in out.err


def test_events_are_searchable_by_patient(agency_user, hospital, insured_person):
    write_event(agency_user, hospital, patient=insured_person)
    write_event(agency_user, hospital)

    found = AuditEvent.objects.filter(patient=insured_person)

    assert found.count() == 1


def test_officer_finds_a_patients_events_by_id_number(api_client, agency_user, insured_person):
    write_event(agency_user, insured_person, patient=insured_person)

    response = api_client.as_user(agency_user).get(
        "/api/v1/audit/events", {"patient_id_number": insured_person.id_number}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["items"][0]["action"] == "test.write"
    assert insured_person.id_number not in response.content.decode()


def test_officer_of_another_region_cannot_search_the_patient(
    api_client, agency_user, outsider_agency, insured_person
):
    write_event(agency_user, insured_person, patient=insured_person)

    response = api_client.as_user(outsider_agency).get(
        "/api/v1/audit/events", {"patient_id_number": insured_person.id_number}
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "audit.patient_not_found"


def test_non_officers_cannot_search_the_ledger(api_client, physician_user, insured_person):
    response = api_client.as_user(physician_user).get(
        "/api/v1/audit/events", {"patient_id_number": insured_person.id_number}
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_batch_writes_its_events_in_two_statements_chained_as_one_by_one(
    agency_user, hospital, django_assert_num_queries
):
    first = write_event(agency_user, hospital)  # the thread knows the stream's head from here on

    # the head moved once, the events inserted once
    with transaction.atomic(), django_assert_num_queries(2), audit.batched():
        for n in range(3):
            audit.record(actor=agency_user, action=f"test.batch{n}", subject=hospital)

    events = list(AuditEvent.objects.filter(stream=first.stream).order_by("seq"))
    assert [(e.seq, e.action) for e in events] == [
        (1, "test.write"),
        (2, "test.batch0"),
        (3, "test.batch1"),
        (4, "test.batch2"),
    ]
    assert events[1].prev_hash == first.hash
    head = AuditChainHead.objects.get(stream=first.stream)
    assert (head.last_seq, head.last_hash) == (4, events[-1].hash)
    assert audit.verify_chain() == []


def test_a_batch_event_inside_a_rolled_back_savepoint_goes_with_it(agency_user, hospital):
    first = write_event(agency_user, hospital)
    with transaction.atomic(), audit.batched():
        audit.record(actor=agency_user, action="test.before", subject=hospital)
        try:
            with transaction.atomic():
                audit.record(actor=agency_user, action="test.undone", subject=hospital)
                raise RuntimeError
        except RuntimeError:
            pass
        audit.record(actor=agency_user, action="test.after", subject=hospital)

    actions = list(
        AuditEvent.objects.filter(stream=first.stream).order_by("seq").values_list("action")
    )
    assert actions == [("test.write",), ("test.before",), ("test.after",)]
    assert audit.verify_chain() == []


def test_a_batch_left_by_a_refusal_still_writes_what_its_transaction_keeps(agency_user, hospital):
    first = write_event(agency_user, hospital)
    with transaction.atomic():
        try:
            with audit.batched():
                audit.record(actor=agency_user, action="test.kept", subject=hospital)
                raise ValueError("refused after the write; the caller goes on")
        except ValueError:
            pass

    assert AuditEvent.objects.filter(stream=first.stream, action="test.kept").exists()
    assert audit.verify_chain() == []
