"""The audit ledger: every service write appends one hash-chained event in its own transaction.

Events are grouped in streams (one per institution, plus ``platform``) so that unrelated
institutions do not queue behind one lock; within a stream each event's hash covers its
content and the previous event's hash, so editing, deleting or reordering a stored row breaks
the chain at that row.

What holds against someone who can write to the database (but not read the environment or the
checkpoint directory):

- **Keyed hash.** ``hash`` is HMAC-SHA256 under a key from ``AUDIT_HMAC_KEYS`` (environment,
  never the database); each event names its ``key_id``, verification uses that key, so keys
  rotate by adding a new id and keeping the old ones listed. Recomputing hashes after an edit,
  with plain SHA-256 or any other key, fails verification at every recomputed row. Events stored
  before keys existed were re-hashed once by migration 0006 under the then current key, keeping
  every link that was already broken broken (run ``audit_verify`` before that upgrade).
- **Checkpoints outside the database.** ``write_checkpoint`` (the worker every
  ``AUDIT_CHECKPOINT_MINUTES``, or ``manage.py audit_checkpoint``) appends to
  ``AUDIT_CHECKPOINT_DIR/checkpoints.jsonl`` one line per stream whose head moved: line number,
  time, stream, seq, the event's hash, key id, ``prev`` (SHA-256 of the previous line's text) and
  ``sig`` (HMAC of the rest). Against the checkpoints ``verify_checkpoints`` finds deleted tail
  events with a rewound head, a deleted stream and a wiped ledger; an edited, deleted or
  reordered checkpoint line breaks its signature or the next line's ``prev``. Events written
  after the last checkpoint are protected by the keyed chain only: deleting those together with
  rewinding the head is not detectable, which is why the interval is short. Cutting lines off
  the end of the file is not detectable from the file either: keep it on append-only storage
  (``chattr +a``, WORM storage or a log shipper).
- **Every break.** ``verify_chain`` reports every broken link of every stream, resuming after
  each one, plus a head that disagrees with its last event and events without a head.
- **PostgreSQL.** Migration 0007 adds triggers refusing UPDATE, DELETE and TRUNCATE of the event
  table (TRUNCATE is allowed when the session sets ``dualchannel.allow_audit_truncate=on``, as
  the test runner's flush does). The table owner can still disable triggers, so run the
  application under a role that does not own the tables and revoke what it does not need:
  ``lockdown_sql(role)`` (README: Audit ledger).

``record`` costs two statements (the head's compare-and-set UPDATE and the event's INSERT) once
the thread knows the stream's head, three the first time; HMAC instead of SHA-256 costs
microseconds.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import hmac
import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, connections, models
from django.utils import timezone

from . import locks
from .canonical import canonical_json, digest, snapshot
from .models import AuditChainHead, AuditEvent, User
from .queries import insert_new

GENESIS_HASH = "0" * 64
PLATFORM_STREAM = "platform"
CHECKPOINT_FILE = "checkpoints.jsonl"


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
        "key_id": event.key_id,
    }


class UnknownAuditKey(LookupError):
    """An event or checkpoint names a key id that ``AUDIT_HMAC_KEYS`` does not list."""


def _key(key_id: str) -> bytes:
    try:
        return settings.AUDIT_HMAC_KEYS[key_id]
    except KeyError:
        raise UnknownAuditKey(key_id) from None


def _mac(key_id: str, data: Any) -> str:
    return hmac.new(_key(key_id), canonical_json(data).encode(), hashlib.sha256).hexdigest()


def compute_hash(event: AuditEvent) -> str:
    """HMAC-SHA256 of the event's content under the key its ``key_id`` names."""
    return _mac(event.key_id, _event_content(event))


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
    event = AuditEvent(
        stream=stream,
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
        key_id=settings.AUDIT_HMAC_KEY_ID,
    )
    # Round-trip the summary so the stored JSON hashes the same as the one in memory.
    event.summary = _json_roundtrip(event.summary)
    batch = getattr(_batch, "open", None)
    if batch is not None and batch.takes_now():
        batch.events.append(event)  # linked, hashed and written when the block ends
        return event
    if not _append_to_known_head(event):
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(stream=stream)
        _link(event, head.pk, head.last_seq, head.last_hash)
        AuditChainHead.objects.filter(pk=head.pk).update(last_seq=event.seq, last_hash=event.hash)
    insert_new([event])
    return event


# The last head this thread wrote, per database and stream: (head id, seq, hash).
_heads = threading.local()
_batch = threading.local()


@dataclass
class _Batch:
    savepoints: tuple[str, ...]
    events: list[AuditEvent] = field(default_factory=list)

    def takes_now(self) -> bool:
        # Only events of the block's own transaction level: one recorded inside a savepoint
        # opened in the block is written at once, and goes if that savepoint is rolled back.
        return _savepoints() == self.savepoints


def _savepoints() -> tuple[str, ...]:
    # an ``atomic(savepoint=False)`` block stands as None: it shares its parent's fate
    return tuple(sid for sid in connection.savepoint_ids if sid is not None)


@contextmanager
def batched():
    """Events recorded in this block are written when it ends, in two statements whatever
    their number (the head moved once per stream, the events in one ``INSERT``) instead of two
    each [issue 15 point 2]. The block runs inside the business transaction; the heads are
    locked at its end, which core.locks has last anyway. Each event is linked and hashed
    exactly as ``record`` alone would, in the order recorded. An exception leaving the block
    writes them too (the caller may go on with its transaction), unless it is a database error
    or the transaction is marked for rollback (it can only be rolled back, with its writes)."""
    if getattr(_batch, "open", None) is not None:
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("audit.batched must run inside the business transaction")
    batch = _batch.open = _Batch(_savepoints())
    try:
        yield
    except BaseException as exc:
        _batch.open = None
        broken = isinstance(exc, DatabaseError) or connection.needs_rollback
        if batch.events and not broken:
            _write_batch(batch.events)
        raise
    _batch.open = None
    if batch.events:
        _write_batch(batch.events)


def _write_batch(events: list[AuditEvent]) -> None:
    streams: dict[str, list[AuditEvent]] = {}
    for event in events:
        streams.setdefault(event.stream, []).append(event)
    for stream, linked in sorted(streams.items()):  # heads in one order: no deadlock
        if not _append_all_to_known_head(stream, linked):
            head, _ = AuditChainHead.objects.select_for_update().get_or_create(stream=stream)
            _link_all(linked, head.pk, head.last_seq, head.last_hash)
            last = linked[-1]
            AuditChainHead.objects.filter(pk=head.pk).update(last_seq=last.seq, last_hash=last.hash)
    insert_new(events)


def _link_all(events: list[AuditEvent], head_id: int, last_seq: int, last_hash: str) -> None:
    for event in events:
        _link(event, head_id, last_seq, last_hash)
        last_seq, last_hash = event.seq, event.hash


def _append_all_to_known_head(stream: str, events: list[AuditEvent]) -> bool:
    """``_append_to_known_head`` for several events of one stream: one compare-and-set."""
    known = _known_heads().get((connection.alias, stream))
    if known is None:
        return False
    head_id, last_seq, last_hash = known
    if settings.LOCK_ORDER_CHECKS:
        locks.check(AuditChainHead.objects.filter(pk=head_id).select_for_update().query, "default")
    _link_all(events, head_id, last_seq, last_hash)
    last = events[-1]
    moved = _move_head(head_id, (last_seq, last_hash), (last.seq, last.hash))
    if not moved:
        del _known_heads()[(connection.alias, stream)]
    return moved


def _link(event: AuditEvent, head_id: int, last_seq: int, last_hash: str) -> None:
    event.seq = last_seq + 1
    event.prev_hash = last_hash
    event.hash = compute_hash(event)
    _known_heads()[(connection.alias, event.stream)] = (head_id, event.seq, event.hash)


def _known_heads() -> dict[tuple[str, str], tuple[int, int, str]]:
    known = getattr(_heads, "known", None)
    if known is None:
        known = _heads.known = {}
    return known


def _append_to_known_head(event: AuditEvent) -> bool:
    """Move the head this thread wrote last by one compare-and-set UPDATE (no SELECT first).

    The UPDATE takes the head's row lock like ``select_for_update`` and succeeds only while
    the head is still the link this thread wrote (same seq and hash): another transaction's
    event, a rolled-back savepoint or a rewound head makes it match nothing, and the caller
    reads and locks the head as before. Saves a statement on every event after a stream's first
    in a process (the counter writes three per dispensing) [issue 15 point 2]."""
    known = _known_heads().get((connection.alias, event.stream))
    if known is None:
        return False
    head_id, last_seq, last_hash = known
    if settings.LOCK_ORDER_CHECKS:  # the UPDATE locks the head: check the order as for a SELECT
        locks.check(AuditChainHead.objects.filter(pk=head_id).select_for_update().query, "default")
    _link(event, head_id, last_seq, last_hash)
    moved = _move_head(head_id, (last_seq, last_hash), (event.seq, event.hash))
    if not moved:
        del _known_heads()[(connection.alias, event.stream)]
    return moved


def _move_head(head_id: int, known: tuple[int, str], new: tuple[int, str]) -> bool:
    """The compare-and-set: move the head from the link ``known`` (seq, hash) to ``new``; False
    when it is no longer there. Its statement is written once (no SQL compiler per event)."""
    with connection.cursor() as cursor:
        cursor.execute(_move_head_sql(connection.alias), [*new, head_id, *known])
        return cursor.rowcount == 1


@functools.cache
def _move_head_sql(alias: str) -> str:
    table = connections[alias].ops.quote_name(AuditChainHead._meta.db_table)
    return (
        f"UPDATE {table} SET last_seq = %s, last_hash = %s "
        "WHERE id = %s AND last_seq = %s AND last_hash = %s"
    )


def _json_roundtrip(data: dict[str, Any]) -> dict[str, Any]:
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


@dataclass(frozen=True)
class CheckpointBreak:
    """A checkpoint line that is unreadable, out of order, unsigned or edited."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"checkpoint file line {self.line}: {self.reason}"


def _streams(stream: str | None) -> list[str]:
    if stream:
        return [stream]
    names = set(AuditChainHead.objects.values_list("stream", flat=True))
    names.update(AuditEvent.objects.values_list("stream", flat=True).distinct())
    return sorted(names)


def verify_chain(stream: str | None = None) -> list[ChainBreak]:
    """Walk each stream in order; return every broken link of every stream (empty: intact)."""
    breaks: list[ChainBreak] = []
    for name in _streams(stream):
        breaks.extend(_verify_stream(name))
    return breaks


def _verify_stream(stream: str) -> list[ChainBreak]:
    breaks: list[ChainBreak] = []
    expected_prev = GENESIS_HASH
    expected_seq = 1
    events = AuditEvent.objects.filter(stream=stream).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        reasons = []
        if event.seq != expected_seq:
            reasons.append(f"missing events seq {expected_seq}..{event.seq - 1}")
        elif event.prev_hash != expected_prev:
            reasons.append("prev_hash does not match previous event")
        try:
            if not hmac.compare_digest(compute_hash(event), event.hash):
                reasons.append("content does not match its hash")
        except UnknownAuditKey:
            reasons.append(f"hash key id {event.key_id!r} is not configured")
        if reasons:
            breaks.append(ChainBreak(stream, expected_seq, event.id, "; ".join(reasons)))
        # Resume after the break so that later breaks are reported too.
        expected_prev = event.hash
        expected_seq = event.seq + 1
    last_seq, last_hash = expected_seq - 1, expected_prev
    head = AuditChainHead.objects.filter(stream=stream).first()
    if head is None:
        if last_seq:
            breaks.append(ChainBreak(stream, last_seq, None, "stream has events but no head"))
    elif head.last_seq != last_seq or head.last_hash != last_hash:
        if head.last_seq > last_seq:
            reason = f"head is at seq {head.last_seq}: events after seq {last_seq} were removed"
        else:
            reason = f"head is at seq {head.last_seq}, behind its events (head rewound)"
        breaks.append(ChainBreak(stream, last_seq + 1, None, reason))
    return breaks


# --- Checkpoints outside the database ------------------------------------------------------


@dataclass
class CheckpointRun:
    """What ``write_checkpoint`` appended, and the streams it refused to checkpoint."""

    written: list[dict[str, Any]] = field(default_factory=list)
    refused: list[ChainBreak] = field(default_factory=list)


def checkpoint_path() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_DIR) / CHECKPOINT_FILE


def _line_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sign(line: dict[str, Any]) -> str:
    return _mac(line["kid"], {k: v for k, v in line.items() if k != "sig"})


def _read_checkpoints(text: str) -> tuple[dict[str, dict[str, Any]], list[CheckpointBreak], str]:
    """Latest valid line per stream, the file's own breaks, and the digest to chain onto."""
    latest: dict[str, dict[str, Any]] = {}
    breaks: list[CheckpointBreak] = []
    prev = GENESIS_HASH
    for number, raw in enumerate(text.splitlines(), start=1):
        try:
            line = json.loads(raw)
            fields = (line["n"], line["at"], line["stream"], line["seq"], line["hash"], line["kid"])
            claimed_prev, sig = line["prev"], line["sig"]
        except (ValueError, TypeError, KeyError):
            breaks.append(CheckpointBreak(number, "unreadable line"))
            prev = _line_digest(raw)
            continue
        problems = []
        if fields[0] != number:
            problems.append(f"numbered {fields[0]!r}: lines were removed or reordered")
        if claimed_prev != prev:
            problems.append("does not follow the previous line: a line was removed or edited")
        try:
            signed = hmac.compare_digest(_sign(line), str(sig))
        except UnknownAuditKey:
            signed = False
            problems.append(f"key id {line['kid']!r} is not configured")
        else:
            if not signed:
                problems.append("signature does not match: the line was edited")
        if problems:
            breaks.append(CheckpointBreak(number, "; ".join(problems)))
        if signed:
            latest[line["stream"]] = line
        prev = _line_digest(raw)
    return latest, breaks, prev


def verify_checkpoints() -> list[CheckpointBreak | ChainBreak]:
    """The checkpoint file's own breaks, then every stream the database no longer agrees with."""
    path = checkpoint_path()
    if not path.exists():
        return []
    latest, breaks, _ = _read_checkpoints(path.read_text(encoding="utf-8"))
    found: list[CheckpointBreak | ChainBreak] = list(breaks)
    for stream, line in sorted(latest.items()):
        problem = _disagreement(stream, line)
        if problem is not None:
            found.append(ChainBreak(stream, line["seq"], None, problem))
    return found


def _disagreement(stream: str, line: dict[str, Any]) -> str | None:
    """Why the database no longer matches a checkpoint line, or None."""
    where = f"checkpoint line {line['n']} at {line['at']}"
    seq = line["seq"]
    event = AuditEvent.objects.filter(stream=stream, seq=seq).only("hash").first()
    head = AuditChainHead.objects.filter(stream=stream).first()
    if event is None:
        if head is None and not AuditEvent.objects.filter(stream=stream).exists():
            return f"stream removed: {where} recorded it at seq {seq}"
        return f"event seq {seq} of {where} is missing (events deleted)"
    if event.hash != line["hash"]:
        return f"event seq {seq} no longer has the hash of {where} (rewritten)"
    if head is None:
        return f"head removed: {where} recorded seq {seq}"
    if head.last_seq < seq:
        return f"head rewound to seq {head.last_seq} below {where} (seq {seq})"
    return None


def write_checkpoint() -> CheckpointRun:
    """Append a signed line for every stream whose head moved since its last checkpoint.

    A stream that no longer agrees with its last checkpoint is refused (and reported), so that a
    rewound head is never checkpointed over the evidence.
    """
    run = CheckpointRun()
    path = checkpoint_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # one writer at a time keeps the lines chained
        handle.seek(0)
        text = handle.read()
        if text and not text.endswith("\n"):
            handle.write("\n")  # a torn last line stays visible as unreadable, not glued on
        latest, _, prev = _read_checkpoints(text)
        n = len(text.splitlines()) + 1
        at = timezone.now().isoformat()
        for head in AuditChainHead.objects.order_by("stream"):
            previous = latest.get(head.stream)
            if previous is not None:
                problem = _disagreement(head.stream, previous)
                if problem is not None:
                    run.refused.append(ChainBreak(head.stream, previous["seq"], None, problem))
                    continue
                if previous["seq"] == head.last_seq:
                    continue
            if head.last_seq == 0:
                continue
            last = AuditEvent.objects.filter(stream=head.stream, seq=head.last_seq).first()
            if last is None or last.hash != head.last_hash:
                run.refused.append(
                    ChainBreak(head.stream, head.last_seq, None, "head does not match its event")
                )
                continue
            line = {
                "n": n,
                "at": at,
                "stream": head.stream,
                "seq": head.last_seq,
                "hash": head.last_hash,
                "kid": settings.AUDIT_HMAC_KEY_ID,
                "prev": prev,
            }
            line["sig"] = _sign(line)
            written = canonical_json(line)
            handle.write(written + "\n")
            run.written.append(line)
            prev = _line_digest(written)
            n += 1
        handle.flush()
        os.fsync(handle.fileno())
    return run


# --- PostgreSQL ----------------------------------------------------------------------------


def lockdown_sql(role: str) -> list[str]:
    """Statements an administrator runs once so that ``role`` (the application's) may only read
    and append the ledger; the tables belong to another role, which runs migrations."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    quoted = connection.ops.quote_name(role)
    return [
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {quoted}",
        f"GRANT SELECT, INSERT ON {table} TO {quoted}",
    ]
