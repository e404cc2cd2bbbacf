"""Registry test fixtures: the four seed profiles on a small region table."""

from __future__ import annotations

import pytest

from dualchannel.registry.profiles import load_profiles
from dualchannel.registry.tests.factories import region

PROFILE_REGIONS = ("340000", "420000", "370000", "532300")


@pytest.fixture
def profiles(db):
    """Regions of the seed profiles (and a few children), with the shipped profiles loaded."""
    for code in ("340102", "340121", "420102", "420106", "370102", "370124", "532301", "532322"):
        region(code)
    load_profiles()
    from dualchannel.registry.models import PolicyProfile

    return {p.region_id: p for p in PolicyProfile.objects.all()}
