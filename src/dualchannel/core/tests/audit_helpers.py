"""What the audit ledger's tests share: the checkpoint directory (an autouse fixture for the
modules that import it), a writer behind the application's back, and one event written."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from dualchannel.core import audit
from dualchannel.core.canonical import snapshot


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    return settings.AUDIT_CHECKPOINT_DIR


@contextmanager
def tamper():
    """A database writer behind the application's back (on PostgreSQL: as the table owner, who
    can switch the append-only trigger off)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # ALTER TABLE waits for no deferred foreign-key check: run those now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE core_auditevent DISABLE TRIGGER USER")
    try:
        yield
    finally:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("ALTER TABLE core_auditevent ENABLE TRIGGER USER")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def write_event(actor, subject, action="test.write", patient=None):
    with transaction.atomic():
        return audit.record(
            actor=actor, action=action, subject=subject, after=snapshot(subject), patient=patient
        )
