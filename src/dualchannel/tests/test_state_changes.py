"""One way to move a state (issue 10, point 2): a status column that has a machine is written only
by ``core.statemachine.transition``; every history table belongs to a machine. The checker, and
what it cannot see: ``table_owners`` (``status_writes``)."""

from __future__ import annotations

import textwrap

import pytest
from django.apps import apps

from dualchannel.core.models import StatusHistory
from dualchannel.core.statemachine import machines
from dualchannel.tests.table_owners import all_status_writes, status_writes

# The one module that writes a machine's status column.
MOVER = "core/statemachine.py"


def _fields():
    return {model: frozenset(m.field for m in found) for model, found in machines().items()}


def _enums():
    enums: dict[str, set] = {}
    for found in machines().values():
        for machine in found:
            enums.setdefault(machine.field, set()).add(machine.status)
    return enums


def test_no_module_writes_a_machines_status_but_transition():
    # given every module of every app (not tests, not migrations)
    # when each is read for writes to a status column that has a machine
    writes = all_status_writes(_fields(), _enums(), skip=[MOVER])

    # then there are none: the status moves through core.statemachine.transition
    assert not writes, "move the status with core.statemachine.transition:\n" + "\n".join(
        map(str, writes)
    )


def test_every_history_table_belongs_to_a_machine():
    # given the machines' history tables
    histories = {m.history for found in machines().values() for m in found if m.history}

    # then every status-history table is one (a table without a machine has a mover by hand)
    tables = {
        model
        for model in apps.get_models()
        if issubclass(model, StatusHistory) and not model._meta.abstract
    }
    assert tables - histories == set()


def test_every_machine_names_real_columns():
    # the status column holds the machine's statuses; the history points back at the model
    for model, found in machines().items():
        for machine in found:
            column = model._meta.get_field(machine.field)
            assert set(machine.status.values) <= {value for value, _ in column.choices}
            if machine.history is not None:
                fk = machine.history._meta.get_field(machine.history_fk)
                assert fk.related_model is model


# --- the checker itself: the patterns the hand-written moves used ------------------------------


def _writes(source: str, module: str = "settlement/example.py"):
    return [
        (w.line, w.model, w.how)
        for w in status_writes(
            textwrap.dedent(source), module=module, fields=_fields(), enums=_enums()
        )
    ]


def test_it_sees_the_reversal_that_wrote_its_status_by_hand():
    # settlement_reverse before: the locked row's status set and saved beside its history row
    source = """
        from .models import Settlement, SettlementStatus

        def settlement_reverse(pk):
            settlement = Settlement.objects.select_for_update(of=("self",)).get(pk=pk)
            settlement.status = SettlementStatus.REVERSED
            settlement.save()
    """
    assert _writes(source) == [(6, "settlement.Settlement", "assignment to .status")]


@pytest.mark.parametrize(
    "source",
    [
        # an annotated parameter (a helper moving the row it is given)
        """
        from dualchannel.prescriptions.models import RxCentreSubmission
        def run(submission: RxCentreSubmission):
            submission.status = "withdrawn"
        """,
        # a queryset update
        """
        from dualchannel.eligibility.models import Application
        Application.objects.filter(pk=1).update(status="withdrawn")
        """,
        # another column name (the alert's state, the movement's upload status)
        """
        from dualchannel.monitoring.models import Alert
        def f(alert_id):
            alert = Alert.objects.get(pk=alert_id)
            alert.state = "dismissed"
        """,
        """
        from dualchannel.inventory.models import StockMovement
        def f(rows: list[StockMovement]):
            StockMovement.objects.bulk_update(rows, ["upload_status"])
        """,
        # setattr with the column's name
        """
        from dualchannel.settlement.models import SettlementBatch
        def f(batch: SettlementBatch):
            setattr(batch, "status", "applied")
        """,
        # a row it cannot type, given a machine's status through an alias
        """
        from dualchannel.integration.models import FilingStatus
        S = FilingStatus
        def f(filing):
            filing.status = S.CANCELLED
        """,
    ],
)
def test_it_sees_these_status_writes(source):
    assert _writes(source)


@pytest.mark.parametrize(
    "source",
    [
        # the initial status of a new row is no move
        """
        from dualchannel.eligibility.models import Application
        Application.objects.create(status="draft")
        """,
        # a model without a machine (the job queue, a settlement's upload status)
        """
        from dualchannel.core.models import Job
        def f(job: Job):
            job.status = "done"
        """,
        """
        from dualchannel.settlement.models import Settlement
        def f(settlement: Settlement):
            settlement.upload_status = "failed"
        """,
        # an attribute of something that is no row
        """
        class Refusal(Exception):
            def __init__(self, status):
                self.status = status
        """,
        # the one way
        """
        from dualchannel.core.statemachine import transition
        from dualchannel.eligibility.models import Application
        def f(application: Application):
            transition(application, "withdrawn", actor=None)
        """,
    ],
)
def test_it_lets_these_be(source):
    assert _writes(source) == []
