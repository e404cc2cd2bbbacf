import threading

import pytest
from django.db import connection

from dualchannel.core.errors import DomainError
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.registry.models import Designation, DesignationStatus, DesignationTransition
from dualchannel.registry.services import designation_transition
from dualchannel.registry.tests.factories import designate, qualified_pharmacy

S = DesignationStatus


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_officers_transition_the_same_designation_at_once(profiles, agency):
    # given: two officers of the same agency and one applied designation
    officers = [
        UserFactory(username=f"officer{i}", institution=agency, roles=[Role.AGENCY_OFFICER])
        for i in range(2)
    ]
    d = designate(qualified_pharmacy(region_code="420102"), S.APPLIED)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(officer):
        try:
            barrier.wait(timeout=10)
            designation_transition(
                actor=officer, designation=Designation(pk=d.pk), to_status=S.EVALUATED
            )
            result = "ok"
        except DomainError as exc:
            result = exc.code
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    # when
    threads = [threading.Thread(target=run, args=(o,)) for o in officers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    # then: exactly one succeeds, the other is refused, one history row is written
    assert sorted(outcomes) == ["ok", "registry.illegal_transition"]
    d.refresh_from_db()
    assert d.status == S.EVALUATED
    assert DesignationTransition.objects.filter(designation=d, to_status=S.EVALUATED).count() == 1
