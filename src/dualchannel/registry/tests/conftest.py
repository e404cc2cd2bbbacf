"""Registry test fixtures: the four seed profiles on a small region table."""

from __future__ import annotations

import pytest

from dualchannel.registry.tests.factories import load_seed_profiles

PROFILE_REGIONS = ("340000", "420000", "370000", "532300")


@pytest.fixture
def profiles(db):
    """Regions of the seed profiles (and a few children), with the shipped profiles loaded."""
    return load_seed_profiles()
