from __future__ import annotations

import pytest

from dualchannel.catalog.authored import load_authored_criteria
from dualchannel.catalog.importer import import_list_file


@pytest.fixture
def nrdl2025(db):
    """The shipped 2025 list imported, with the authored criteria published (a few seconds)."""
    report = import_list_file()
    load_authored_criteria()
    return report


@pytest.fixture
def officer_client(client, agency_user):
    client.force_login(agency_user)
    return client
