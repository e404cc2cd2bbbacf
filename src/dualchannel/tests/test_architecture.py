"""Each app writes only its own tables (issue 10, point 1): another app's rows change only
through that app's services. The checker, and what it cannot see: ``table_owners``."""

from __future__ import annotations

import textwrap

import pytest

from dualchannel.tests.table_owners import all_cross_app_writes, cross_app_writes

# Cross-app writes with a reason: module (path under src/dualchannel) → {model label: why}.
# Keep it short; route a write through the owner's service where one can be had.
ALLOWED: dict[str, dict[str, str]] = {}


def test_no_app_writes_another_apps_tables():
    # given every module of every app (not tests, not migrations)
    # when each is read
    writes = [w for w in all_cross_app_writes() if w.model not in ALLOWED.get(w.module, {})]

    # then none writes another app's model, except where ALLOWED says why
    assert not writes, "writes on another app's models (call the owner's service):\n" + "\n".join(
        map(str, writes)
    )


def test_every_allowance_is_still_needed():
    # given the writes the checker finds
    found = {(w.module, w.model) for w in all_cross_app_writes()}

    # then every allowance names one of them (a stale entry would hide a new write)
    stale = [
        (m, label) for m, labels in ALLOWED.items() for label in labels if (m, label) not in found
    ]
    assert not stale


# --- the checker itself: what it sees (the patterns the cross-app flows used) ------------------


def _writes(source: str, module: str = "settlement/example.py", label: str = "settlement"):
    return [
        (w.line, w.model, w.how)
        for w in cross_app_writes(textwrap.dedent(source), module=module, label=label)
    ]


def test_it_sees_a_locked_row_of_another_app_saved():
    # the counter's old plan write: the eligibility locked (or None), moved, saved
    source = """
        from dualchannel.eligibility.models import Eligibility

        def dispense(eligibility_id, used):
            eligibility = (
                Eligibility.objects.select_for_update(no_key=True).get(pk=eligibility_id)
                if eligibility_id
                else None
            )
            eligibility.plan_used_quantity += used
            eligibility.save(update_fields=["plan_used_quantity"])
    """
    assert _writes(source, "prescriptions/services/counter.py", "prescriptions") == [
        (10, "eligibility.Eligibility", "augmented assignment to .plan_used_quantity"),
        (11, "eligibility.Eligibility", ".save()"),
    ]


def test_it_follows_return_annotations_tuples_and_foreign_keys():
    # the hospital desk's old writes: rows from the module's own functions, then saved
    source = """
        from dualchannel.prescriptions.models import Prescription
        from .models import Settlement

        def _prescription_for(pk) -> Prescription: ...
        def _compute(pk) -> tuple[dict, Prescription | None]: ...

        def settle(pk, settlement: Settlement):
            prescription = _prescription_for(pk)
            prescription.dispensed_at = settlement.settled_at
            _, again = _compute(pk)
            again.eligibility.save()
            settlement.prescription.delete()
            settlement.save()
            transition(prescription, "dispensed", actor=None)
    """
    assert _writes(source) == [
        (10, "prescriptions.Prescription", "assignment to .dispensed_at"),
        (12, "eligibility.Eligibility", ".save()"),
        (13, "prescriptions.Prescription", ".delete()"),
        (15, "prescriptions.Prescription", "status moved by transition()"),
    ]


@pytest.mark.parametrize(
    "source",
    [
        # a queryset update through an import alias
        """
        from dualchannel.eligibility.models import Eligibility as E
        E.objects.filter(pk=1).update(plan_used_quantity=0)
        """,
        # a models module imported as a name
        """
        from dualchannel.eligibility import models as eligibility_models
        eligibility_models.Eligibility.objects.create()
        """,
        # an annotated parameter, written inside a loop's body
        """
        from dualchannel.eligibility.models import Eligibility
        def f(rows: list[Eligibility]):
            for row in rows:
                row.delete()
        """,
        # rows locked with core.locks, then saved
        """
        from dualchannel.core.locks import lock_rows
        from dualchannel.eligibility.models import Eligibility
        def f():
            for row in lock_rows(Eligibility.objects.filter(pk__in=[1, 2])):
                row.save()
        """,
        # a reverse relation's manager
        """
        from dualchannel.prescriptions.models import Prescription
        def f(rx: Prescription):
            rx.items.create(quantity=1)
        """,
        # an import inside a function, get_or_create's row
        """
        def f():
            from dualchannel.portal.models import PatientAccount
            account, _ = PatientAccount.objects.get_or_create(user_id=1)
            account.save()
        """,
    ],
)
def test_it_sees_these_writes(source):
    assert _writes(source)


@pytest.mark.parametrize(
    "source",
    [
        # the app's own model, imported relatively
        """
        from .models import Settlement
        Settlement.objects.filter(pk=1).update(batch=None)
        """,
        # reading and locking another app's rows is not writing them
        """
        from dualchannel.eligibility.models import Eligibility
        row = Eligibility.objects.select_for_update(no_key=True).get(pk=1)
        left = row.plan_total_quantity - row.plan_used_quantity
        """,
        # an attribute set for a page is not a column
        """
        from dualchannel.integration.models import PlatformFiling
        def f(filings: list[PlatformFiling]):
            for filing in filings:
                filing.retryable = True
        """,
        # a name rebound to something else is no longer the row
        """
        from dualchannel.eligibility.models import Eligibility
        row = Eligibility.objects.get(pk=1)
        row = {"plan_used_quantity": 0}
        row.update(plan_used_quantity=1)
        """,
    ],
)
def test_it_leaves_these_alone(source):
    assert _writes(source) == []
