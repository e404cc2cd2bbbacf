# Audit events get the id of the HMAC key that hashed them; events stored before keys existed
# (plain SHA-256) are re-hashed once under the current key (core.audit's docstring).

import hashlib

from django.conf import settings
from django.db import migrations, models

from dualchannel.core.canonical import canonical_json

GENESIS_HASH = "0" * 64
CHUNK = 1000


def _legacy_hash(event):
    """The plain SHA-256 the ledger used before 0006 (frozen here)."""
    content = {
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
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def rehash_under_current_key(apps, schema_editor):
    """Re-hash every stored event with HMAC, keeping every link that was broken broken.

    A row whose content no longer matched its SHA-256 keeps its old hash (which no HMAC
    matches); a prev_hash that named the previous row's old hash names its new hash, any other
    prev_hash stays as it was (wrong); a head that named its last row's old hash follows it.
    """
    from dualchannel.core.audit import compute_hash

    AuditEvent = apps.get_model("core", "AuditEvent")
    AuditChainHead = apps.get_model("core", "AuditChainHead")
    key_id = settings.AUDIT_HMAC_KEY_ID
    last_of = {}  # stream -> (old hash, new hash) of its last row
    stream, prev_old, prev_new = None, GENESIS_HASH, GENESIS_HASH
    batch = []
    for event in AuditEvent.objects.order_by("stream", "seq").iterator(chunk_size=CHUNK):
        if event.stream != stream:
            stream, prev_old, prev_new = event.stream, GENESIS_HASH, GENESIS_HASH
        intact = _legacy_hash(event) == event.hash
        old_hash = event.hash
        if event.prev_hash == prev_old:
            event.prev_hash = prev_new
        event.key_id = key_id
        if intact:
            event.hash = compute_hash(event)
        prev_old, prev_new = old_hash, event.hash
        last_of[stream] = (prev_old, prev_new)
        batch.append(event)
        if len(batch) >= CHUNK:
            AuditEvent.objects.bulk_update(batch, ["prev_hash", "hash", "key_id"])
            batch = []
    if batch:
        AuditEvent.objects.bulk_update(batch, ["prev_hash", "hash", "key_id"])
    for head in AuditChainHead.objects.filter(stream__in=list(last_of)):
        old, new = last_of[head.stream]
        if head.last_hash == old and old != new:
            head.last_hash = new
            head.save(update_fields=["last_hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_durable_jobs"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(default="", max_length=16),
        ),
        migrations.RunPython(rehash_under_current_key, migrations.RunPython.noop, elidable=False),
    ]
