import pytest

from .factories import build_world
from .rollup_world import build_stats_world


@pytest.fixture
def sd_world(db):
    return build_world()


@pytest.fixture
def stats_world(db):
    return build_stats_world()
