"""The audit ledger: every service write appends one hash-chained event in its own transaction.

Events are grouped in streams (one per institution, plus ``platform``) so that unrelated
institutions do not queue behind one lock; within a stream each event's hash covers its
content and the previous event's hash, so editing, deleting or reordering a stored row breaks
the chain at that row, which ``verify_chain`` (``manage.py audit_verify``) reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.utils import timezone

from .canonical import canonical_json, digest, snapshot
from .models import AuditChainHead, AuditEvent, User

GENESIS_HASH = "0" * 64
PLATFORM_STREAM = "platform"


def stream_for(actor: User | None) -> str:
    if actor is not None and actor.institution_id:
        return f"inst:{actor.institution_id}"
    return PLATFORM_STREAM


def _event_content(event: AuditEvent) -> dict[str, Any]:
    return {
        "stream": event.stream,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "institution_id": event.institution_id,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "patient_id": event.patient_id,
        "before_digest": event.before_digest,
        "after_digest": event.after_digest,
        "summary": event.summary,
        "prev_hash": event.prev_hash,
    }


def compute_hash(event: AuditEvent) -> str:
    return digest(_event_content(event))


def record(
    *,
    actor: User | None,
    action: str,
    subject: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | models.Model | None = None,
    patient: models.Model | None = None,
    role: str = "",
    summary: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event for a write that is happening in the caller's transaction.

    ``before``/``after`` are snapshots (``core.canonical.snapshot``); only their digests are kept,
    so the ledger proves what changed without copying personal data. ``summary`` holds the few
    non-personal facts worth reading (status from/to, codes).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record must run inside the business transaction")
    if isinstance(after, models.Model):
        after = snapshot(after)
    stream = stream_for(actor)
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(stream=stream)
    event = AuditEvent(
        stream=stream,
        seq=head.last_seq + 1,
        occurred_at=timezone.now(),
        actor=actor,
        actor_role=role,
        institution_id=actor.institution_id if actor is not None else None,
        action=action,
        subject_type=subject._meta.label,
        subject_id=str(subject.pk),
        patient=patient,
        before_digest=digest(before) if before is not None else "",
        after_digest=digest(after) if after is not None else "",
        summary=summary or {},
        prev_hash=head.last_hash,
    )
    # Round-trip the summary so the stored JSON hashes the same as the one in memory.
    event.summary = _json_roundtrip(event.summary)
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    head.last_seq = event.seq
    head.last_hash = event.hash
    head.save(update_fields=["last_seq", "last_hash"])
    return event


def _json_roundtrip(data: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(canonical_json(data))


@dataclass(frozen=True)
class ChainBreak:
    stream: str
    seq: int
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event id {self.event_id}" if self.event_id is not None else "end of stream"
        return f"stream {self.stream} seq {self.seq} ({where}): {self.reason}"


def verify_chain(stream: str | None = None) -> list[ChainBreak]:
    """Walk each stream in order; return the first broken link of every broken stream."""
    streams = (
        [stream]
        if stream
        else list(AuditChainHead.objects.order_by("stream").values_list("stream", flat=True))
    )
    breaks: list[ChainBreak] = []
    for name in streams:
        found = _verify_stream(name)
        if found is not None:
            breaks.append(found)
    return breaks


def _verify_stream(stream: str) -> ChainBreak | None:
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for event in AuditEvent.objects.filter(stream=stream).order_by("seq").iterator(chunk_size=2000):
        if event.seq != expected_seq:
            return ChainBreak(
                stream, expected_seq, event.id, f"missing event before seq {event.seq}"
            )
        if event.prev_hash != expected_prev:
            return ChainBreak(
                stream, event.seq, event.id, "prev_hash does not match previous event"
            )
        if compute_hash(event) != event.hash:
            return ChainBreak(stream, event.seq, event.id, "content does not match its hash")
        expected_prev = event.hash
        expected_seq += 1
    head = AuditChainHead.objects.filter(stream=stream).first()
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != expected_prev):
        return ChainBreak(stream, expected_seq, None, "events after this point were removed")
    return None
