import pytest
from django.db import models, transaction

from dualchannel.catalog.models import CriteriaStatus
from dualchannel.catalog.tests.factories import CriteriaSetFactory
from dualchannel.core.canonical import digest, snapshot
from dualchannel.core.errors import Conflict
from dualchannel.core.models import AuditEvent, CalendarYear
from dualchannel.core.roles import Role
from dualchannel.core.statemachine import StateMachine, machine_of, transition
from dualchannel.monitoring.models import Alert, AlertState, AlertTransition
from dualchannel.registry.models import INSTITUTION_MACHINE, PHYSICIAN_MACHINE, DesignationStatus
from dualchannel.registry.tests.factories import DesignationFactory, PhysicianFactory


class Light(models.TextChoices):
    RED = "red", "红"
    GREEN = "green", "绿"
    YELLOW = "yellow", "黄"


MACHINE = StateMachine(
    Light, {"red": {"green"}, "green": {"yellow"}, "yellow": {"red"}}, error_code="light.illegal"
)


def test_allowed_edge_passes():
    MACHINE.check("red", "green")


def test_illegal_edge_names_both_states_in_chinese():
    with pytest.raises(Conflict) as caught:
        MACHINE.check("red", "yellow")

    assert caught.value.code == "light.illegal"
    assert caught.value.message == "不允许从「红」变更为「黄」"
    assert caught.value.status == 409


def test_table_with_unknown_status_is_rejected_at_definition():
    with pytest.raises(ValueError):
        StateMachine(Light, {"red": {"blue"}}, error_code="x")


# --- transition: the one function that moves a state --------------------------------------------
# Exercised on real machines: the alert's (history, audit, role hook, changes, save_fields), the
# criteria set's (stamp, no audit) and the designation's two (chosen by ``when``).


def _open_alert(pharmacy) -> Alert:
    return Alert.objects.create(
        rule="trace_code_resold",
        severity="high",
        institution=pharmacy,
        subject_type="inventory.TraceCode",
        subject_id="T1",
        evidence={},
    )


@pytest.mark.django_db
def test_transition_writes_status_history_and_audit_with_the_facts(pharmacy, agency_user):
    # given an open alert, locked in the business transaction
    alert = _open_alert(pharmacy)
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        before = snapshot(locked)

        # when it moves, with a change made by the move and a fact for the summary
        transition(
            locked,
            AlertState.CONFIRMED,
            actor=agency_user,
            reason="已核实",
            changes={"reviewer_note": "已核实"},
            checked=3,
        )

    # then the status and the change are stored
    alert.refresh_from_db()
    assert (alert.state, alert.reviewer_note) == (AlertState.CONFIRMED, "已核实")
    # and one history row says from, to, who and why
    row = AlertTransition.objects.get(alert=alert)
    assert (row.from_status, row.to_status, row.actor, row.reason) == (
        "open",
        "confirmed",
        agency_user,
        "已核实",
    )
    # and one audit event, under the machine's action and role, with the facts in its summary
    event = AuditEvent.objects.get(action="monitoring.alert_confirmed")
    assert event.summary == {
        "rule": "trace_code_resold",
        "from": "open",
        "to": "confirmed",
        "checked": 3,
    }
    assert (event.actor, event.actor_role, event.subject_id) == (
        agency_user,
        Role.AGENCY_OFFICER,
        str(alert.pk),
    )
    # the snapshot before is the row before the move and its changes
    assert event.before_digest == digest(before)
    assert event.after_digest == digest(snapshot(alert))


@pytest.mark.django_db
def test_a_refused_edge_writes_nothing(pharmacy, agency_user):
    # given an alert already dismissed
    alert = _open_alert(pharmacy)
    Alert.objects.filter(pk=alert.pk).update(state=AlertState.DISMISSED)
    events = AuditEvent.objects.count()

    # when it is moved along an edge its machine does not have
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        with pytest.raises(Conflict) as refused:
            transition(
                locked,
                AlertState.CONFIRMED,
                actor=agency_user,
                changes={"reviewer_note": "x"},
            )

    # then the machine's code and message, and nothing written, not even in memory
    assert refused.value.code == "monitoring.alert_transition"
    assert refused.value.message == "不允许从「已排除」变更为「已确认」"
    assert (locked.state, locked.reviewer_note) == (AlertState.DISMISSED, "")
    alert.refresh_from_db()
    assert (alert.state, alert.reviewer_note) == (AlertState.DISMISSED, "")
    assert not AlertTransition.objects.filter(alert=alert).exists()
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_save_fields_keep_other_unsaved_changes_out(pharmacy, agency_user):
    # given a machine that saves only its columns, and a row changed elsewhere in memory
    alert = _open_alert(pharmacy)
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        locked.occurrences = 99

        transition(locked, AlertState.DISMISSED, actor=agency_user, reason="误报")

    # then only the status (and the move's own changes) reached the row
    alert.refresh_from_db()
    assert (alert.state, alert.occurrences) == (AlertState.DISMISSED, 1)


@pytest.mark.django_db
def test_a_stamp_is_set_on_entering_and_no_audit_without_an_action(admin_user):
    # given a draft criteria set (its machine stamps published_at and leaves the audit event to
    # the caller's own action)
    draft = CriteriaSetFactory()
    events = AuditEvent.objects.count()

    with transaction.atomic():
        transition(draft, CriteriaStatus.PUBLISHED, actor=admin_user, reason="发布")

    draft.refresh_from_db()
    assert draft.status == CriteriaStatus.PUBLISHED and draft.published_at is not None
    assert draft.status_history.get().to_status == CriteriaStatus.PUBLISHED
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_the_machine_is_chosen_by_the_row(hospital):
    # given an institution's and a physician's designation: two machines for one model
    institution = DesignationFactory(institution=hospital)
    physician = DesignationFactory(institution=None, physician=PhysicianFactory(hospital=hospital))

    assert machine_of(institution) is INSTITUTION_MACHINE
    assert machine_of(physician) is PHYSICIAN_MACHINE
    # applied → active is a physician's edge only
    with transaction.atomic():
        transition(physician, DesignationStatus.ACTIVE, actor=None, reason="备案")
        with pytest.raises(Conflict):
            transition(institution, DesignationStatus.ACTIVE, actor=None, reason="备案")


@pytest.mark.django_db
def test_a_move_outside_a_business_transaction_is_refused(pharmacy, agency_user):
    # given an alert read without any transaction (so without a lock)
    alert = _open_alert(pharmacy)

    with pytest.raises(RuntimeError):
        transition(alert, AlertState.CONFIRMED, actor=agency_user)

    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN
    assert not AlertTransition.objects.filter(alert=alert).exists()


def test_a_model_without_a_machine_cannot_be_moved():
    with pytest.raises(LookupError):
        machine_of(CalendarYear(year=2030))


def test_a_history_table_needs_its_foreign_key():
    with pytest.raises(ValueError):
        StateMachine(Light, {"red": {"green"}}, error_code="x", history=AlertTransition)
