"""Officers at three levels of Hubei (county 江岸区, city 武汉市 from the root fixtures, province)
and one of another city (宜昌市), for the scope tests of inspections."""

from __future__ import annotations

import pytest

from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory
from dualchannel.registry.models import InstitutionKind
from dualchannel.registry.tests.factories import InstitutionFactory


def officer_of(region_code: str, username: str):
    agency = InstitutionFactory(
        kind=InstitutionKind.AGENCY,
        name=f"{region_code} 医保经办机构",
        region_code=region_code,
        hospital_level=None,
    )
    return UserFactory(username=username, institution=agency, roles=[Role.AGENCY_OFFICER])


@pytest.fixture
def county_officer(db):
    return officer_of("420102", "county_officer")


@pytest.fixture
def province_officer(db):
    return officer_of("420000", "province_officer")


@pytest.fixture
def yichang_officer(db):
    return officer_of("420500", "yichang_officer")
