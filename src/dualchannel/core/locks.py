"""The one order in which services take row locks (``select_for_update``), and a check of it.

Two transactions that lock the same rows in opposite orders can deadlock on PostgreSQL (a
dispensing that held the eligibility and waited for the batch, beside a reversal that held the
batch and waited for the eligibility). Every service therefore locks by rising ``Level``, and
several rows of one level in primary-key (or code) order:

    region (and its published lists) → institution → designation → physician → person
      (and the person's filings) → application → eligibility → prescription (and its
      dispensing) → monthly batch → rollup state → settlement (and claims) → stay charge
      → recovery order → accumulators → stock hold (an online order's) → payment order (and its
      refunds) → stock item → trace code → audit chain head

Why this order: the registry rows first (as before, the convention's region → institution →
designation → person); then the person's own rows from the longest-lived down, so that a
settlement can hold its person while it prices; stock and trace codes come after the settlement
because inventory's sale and return functions lock them and write their own audit events inside
the caller's transaction, so they must be able to run last; the audit chain head (one per
institution) is taken by ``audit.record`` and is always the last lock. A region's published
lists follow the region they are published for (catalog.regional_lists); a person's
out-of-area filing, a stay's filing-form review and the person's own filing request
(eligibility.PatientFilingRequest) follow the person. The monthly batch comes
before its settlements (preparing and applying lock the batch, then its settlements), a stay's
charges after the settlement that bills them (a reversal) and before the accumulators (the stay
bill), the rollups' state row before the settlements a refresh claims (analytics.rollups), and
the recovery orders after the settlements they recover (a batch deducts them after
locking its settlements; an approval locks them before its own audit event). A payment order
comes after everything its referencing app holds (``payments.hooks``' ``lock`` runs first, and a
reversal may refund inside its transaction) and before the stock its expiry releases.

Lock with ``select_for_update(no_key=True)`` (FOR NO KEY UPDATE) where the key is not changed:
a plain FOR UPDATE also blocks every other transaction's insert of a row that references the
locked one (PostgreSQL's foreign-key check takes FOR KEY SHARE), an edge outside this order; a
reversal holding its person FOR UPDATE deadlocked with a dispensing inserting a stock movement
that names that person.

A service that learns which rows it needs only by reading (the settlement names its person) reads
them first without a lock, locks in order, then re-reads what it decides on. Rows already held may
be locked again at any point (a no-op for the database).

With ``LOCK_ORDER_CHECKS`` on (tests, ``DEBUG``) every ``select_for_update`` of a listed table is
checked within its transaction, on SQLite as on PostgreSQL: a lock of a lower level, on rows not
already held, after a higher level raises ``LockOrderError``. Tables not listed are not checked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.lookups import Exact, In
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import Atomic


class Level(IntEnum):
    REGION = 10
    REGIONAL_LIST = 15
    INSTITUTION = 20
    DESIGNATION = 30
    PHYSICIAN = 40
    PERSON = 50
    PERSON_RECORD = 55
    APPLICATION = 60
    ELIGIBILITY = 70
    # the rollups' one state row: a refresh takes it first, then claims prescriptions,
    # dispensings and settlements (analytics.rollups)
    ROLLUP = 75
    PRESCRIPTION = 80
    BATCH = 85
    SETTLEMENT = 90
    STAY_CHARGE = 93
    RECOVERY = 96
    ACCUMULATOR = 100
    STOCK_HOLD = 104
    PAYMENT = 105
    PAYMENT_REFUND = 106
    STOCK_ITEM = 110
    TRACE_CODE = 120
    AUDIT_HEAD = 200


TABLES: dict[str, Level] = {
    "registry.Region": Level.REGION,
    "catalog.RegionalList": Level.REGIONAL_LIST,
    "registry.Institution": Level.INSTITUTION,
    "registry.Designation": Level.DESIGNATION,
    "registry.Physician": Level.PHYSICIAN,
    "registry.InsuredPerson": Level.PERSON,
    "registry.OutOfAreaFiling": Level.PERSON_RECORD,
    "registry.FilingReview": Level.PERSON_RECORD,
    "eligibility.PatientFilingRequest": Level.PERSON_RECORD,
    "eligibility.Application": Level.APPLICATION,
    "eligibility.Eligibility": Level.ELIGIBILITY,
    "prescriptions.Prescription": Level.PRESCRIPTION,
    "prescriptions.Dispensing": Level.PRESCRIPTION,
    "analytics.RollupState": Level.ROLLUP,
    "prescriptions.OnlineOrder": Level.PRESCRIPTION,
    "settlement.SettlementBatch": Level.BATCH,
    "settlement.Settlement": Level.SETTLEMENT,
    "settlement.ManualClaim": Level.SETTLEMENT,
    "settlement.StayCharge": Level.STAY_CHARGE,
    "settlement.RecoveryOrder": Level.RECOVERY,
    "settlement.Accumulator": Level.ACCUMULATOR,
    "payments.PaymentOrder": Level.PAYMENT,
    "payments.PaymentRefund": Level.PAYMENT_REFUND,
    "inventory.StockItem": Level.STOCK_ITEM,
    "inventory.StockHold": Level.STOCK_HOLD,
    "inventory.TraceCode": Level.TRACE_CODE,
    "core.AuditChainHead": Level.AUDIT_HEAD,
}


class LockOrderError(AssertionError):
    """A lock taken against ``core.locks``' order (raised only with LOCK_ORDER_CHECKS on)."""


def lock_rows(qs: QuerySet, *, order_by: str = "pk") -> list[Model]:
    """Lock every row of ``qs`` in a fixed order (primary key unless told) and return them."""
    return list(qs.select_for_update(of=("self",), no_key=True).order_by(order_by))


def lock_ids(model: type[Model], ids: Iterable[Any]) -> dict[Any, Model]:
    """Lock the rows of ``model`` with these primary keys, in primary-key order."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {row.pk: row for row in lock_rows(model.objects.filter(pk__in=wanted))}


# --- the check ---------------------------------------------------------------------------------

_state = threading.local()


@contextmanager
def several_transactions(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """For tests: one atomic block around several business actions (to undo them together); the
    order is checked within each action inside it, as within a test case's own block."""
    with transaction.atomic(using=using):
        mark_several_transactions(using)
        yield


def mark_several_transactions(using: str = DEFAULT_DB_ALIAS) -> None:
    """For tests: the atomic block just entered holds several business actions (see above)."""
    connections[using].atomic_blocks[-1]._several_transactions = True


def _business_block(connection):
    """The outermost atomic block that is not a test's: one business transaction."""
    for block in connection.atomic_blocks:
        if not (
            getattr(block, "_from_testcase", False)
            or getattr(block, "_several_transactions", False)
        ):
            return block
    return None


def in_transaction(using: str = "default") -> bool:
    """Inside a business transaction (a test case's own atomic blocks do not count)."""
    return _business_block(connections[using]) is not None


def _keys(query) -> dict[str, set]:
    """The values of the unique columns the query's WHERE pins down (``pk = 5``, ``code IN``)."""

    found: dict[str, set] = {}
    for child in getattr(query.where, "children", ()):
        if not isinstance(child, Exact | In) or query.where.connector != "AND":
            continue
        target = getattr(child.lhs, "target", None)
        if target is None or not (target.primary_key or target.unique):
            continue
        values = child.rhs if isinstance(child, In) else [child.rhs]
        try:
            found[target.column] = {v for v in values if isinstance(v, int | str)}
        except TypeError:  # a subquery
            continue
    return found


def check(query, using: str) -> None:
    """Record a lock of ``query`` and raise if it breaks the order (see the module docstring)."""
    level = TABLES.get(query.model._meta.label) if query.model is not None else None
    if level is None:
        return
    connection = connections[using]
    block = _business_block(connection)
    if block is None:
        return
    held = getattr(_state, "held", None)
    if held is None or held[0] is not block or held[1] is not connection:
        held = _state.held = (block, connection, {})
    rows: dict[Level, dict[str, set]] = held[2]
    keys = _keys(query)
    top = max(rows, default=None)
    if top is not None and level < top:
        mine = rows.get(level, {})
        again = bool(keys) and all(values <= mine.get(col, set()) for col, values in keys.items())
        if not again:
            raise LockOrderError(
                f"{query.model._meta.label} ({level.name}) locked after {top.name}: "
                "lock in core.locks order"
            )
    mine = rows.setdefault(level, {})
    for col, values in keys.items():
        mine.setdefault(col, set()).update(values)


def install() -> None:
    """Check every ``select_for_update`` query (called at start-up when LOCK_ORDER_CHECKS)."""

    if getattr(SQLCompiler.execute_sql, "_lock_order_checked", False):
        return
    original = SQLCompiler.execute_sql

    def execute_sql(self, *args, **kwargs):
        if self.query.select_for_update:
            check(self.query, self.using)
        return original(self, *args, **kwargs)

    execute_sql._lock_order_checked = True  # type: ignore[attr-defined]
    SQLCompiler.execute_sql = execute_sql

    exit_ = Atomic.__exit__

    def __exit__(self, *exc):
        try:
            return exit_(self, *exc)
        finally:
            held = getattr(_state, "held", None)
            # the business transaction ended (an atomic decorator reuses its block object)
            if held is not None and _business_block(held[1]) is not held[0]:
                _state.held = None

    Atomic.__exit__ = __exit__
