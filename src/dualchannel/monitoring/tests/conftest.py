"""The national rules are seeded by a data migration; a transactional test elsewhere on the same
worker flushes every table, so tests that read the rows put the shipped ones back first."""

from __future__ import annotations

import pytest

from dualchannel.monitoring.rules import national_rules_seed


@pytest.fixture(autouse=True)
def _national_rules(request):
    if {"db", "transactional_db", "django_db_setup"} & set(request.fixturenames) or (
        request.node.get_closest_marker("django_db") is not None
    ):
        request.getfixturevalue(
            "transactional_db" if "transactional_db" in request.fixturenames else "db"
        )
        national_rules_seed()
